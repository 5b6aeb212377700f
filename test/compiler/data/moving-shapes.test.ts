import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIRECTION_STEP, PALETTE, classParts } from '../../../compiler/data/classes.ts';
import {
  CLIP_LEN, FRAMES, SIZE, clipToFloat, floatToClip, movingShapesClip, trajectory,
} from '../../../compiler/data/moving-shapes.ts';
import { clipSeed, mulberry32 } from '../../../compiler/data/prng.ts';

const FIXTURE = JSON.parse(readFileSync(new URL('../../fixtures/moving-shapes.json', import.meta.url), 'utf8')) as {
  clips: { cls: number; seed: number; sha256: string }[];
  allClasses: { seeds: number[]; sha256: string };
};

const sha = (u8: Uint8Array): string => createHash('sha256').update(u8).digest('hex');

describe('movingShapesClip', () => {
  it('matches the sha256 fixture shared with models/tiny/data.py', () => {
    for (const e of FIXTURE.clips) expect(sha(movingShapesClip(e.cls, e.seed)), `${e.cls}/${e.seed}`).toBe(e.sha256);
    const h = createHash('sha256');
    for (let c = 0; c < 48; c++) for (const s of FIXTURE.allClasses.seeds) h.update(movingShapesClip(c, s));
    expect(h.digest('hex')).toBe(FIXTURE.allClasses.sha256);
  });

  it('is deterministic and seed dependent', () => {
    expect(sha(movingShapesClip(9, 3))).toBe(sha(movingShapesClip(9, 3)));
    expect(sha(movingShapesClip(9, 3))).not.toBe(sha(movingShapesClip(9, 4)));
    expect(sha(movingShapesClip(9, 3))).not.toBe(sha(movingShapesClip(10, 3)));
  });

  it('draws one clean class colour over a dark, static, greyish background', () => {
    for (const cls of [0, 13, 26, 39, 47]) {
      const clip = movingShapesClip(cls, cls + 11);
      const rgb = PALETTE[classParts(cls).colour]!;
      expect(clip.length).toBe(CLIP_LEN);
      let shapePx = 0;
      const bad: string[] = [];
      for (let p = 0; p < CLIP_LEN / 3; p++) {
        const [r, g, b] = [clip[3 * p]!, clip[3 * p + 1]!, clip[3 * p + 2]!];
        const isShape = (q: number): boolean =>
          clip[3 * q] === rgb[0] && clip[3 * q + 1] === rgb[1] && clip[3 * q + 2] === rgb[2];
        if (isShape(p)) {
          shapePx++;
          continue;
        }
        const p0 = p % (SIZE * SIZE);
        const dark = Math.min(r, g, b) >= 15 && Math.max(r, g, b) <= 45 && Math.max(r, g, b) - Math.min(r, g, b) <= 6;
        const stat = isShape(p0) || (clip[3 * p0] === r && clip[3 * p0 + 1] === g && clip[3 * p0 + 2] === b);
        if (!dark || !stat) bad.push(`pixel ${p}: ${r},${g},${b}`);
      }
      expect(bad.slice(0, 5)).toEqual([]);
      // shapes of half-size 4..6: between a small triangle (2*4^2) and a large square (13^2) per frame
      expect(shapePx / FRAMES).toBeGreaterThan(25);
      expect(shapePx / FRAMES).toBeLessThan(170);
    }
  });

  it('moves at 1..2 px/frame in the class direction for 6 steps, then stays inside while bouncing', () => {
    for (let cls = 0; cls < 48; cls++) {
      for (let seed = 0; seed < 6; seed++) {
        const rng = mulberry32(clipSeed(cls, seed));
        for (let i = 0; i < 3 + 64; i++) rng.next();
        const states = trajectory(classParts(cls).direction, rng);
        const [sx, sy] = DIRECTION_STEP[classParts(cls).direction]!;
        for (let t = 0; t < 6; t++) {
          const step = (states[t + 1]!.x - states[t]!.x) * sx + (states[t + 1]!.y - states[t]!.y) * sy;
          expect(step).toBeGreaterThanOrEqual(1);
          expect(step).toBeLessThan(2);
        }
        for (const s of states) {
          expect(s.size >= 4 && s.size < 6).toBe(true);
          for (const v of [s.x, s.y]) expect(v >= s.size && v <= SIZE - s.size).toBe(true);
        }
      }
    }
  });

  it('rejects bad classes and seeds', () => {
    expect(() => movingShapesClip(48, 0)).toThrow(/class id must be an integer in \[0, 47\], got 48/);
    expect(() => movingShapesClip(1, -2)).toThrow(/seed must be an integer in \[0, 2\^32\)/);
  });
});

describe('clipToFloat / floatToClip', () => {
  it('maps 0..255 onto [-1, 1] as v / 127.5 - 1 and back', () => {
    const u8 = movingShapesClip(5, 77);
    const f = clipToFloat(u8);
    expect(f[0]).toBe(Math.fround(u8[0]! / 127.5 - 1));
    expect(clipToFloat(new Uint8Array([0, 255]))).toEqual(new Float32Array([-1, 1]));
    expect(floatToClip(f)).toEqual(u8);
    expect(floatToClip(new Float32Array([-3, 3, NaN]))).toEqual(new Uint8Array([0, 255, 0]));
  });
});
