import { describe, expect, it } from 'vitest';
import { movingShapesClip } from '../../../compiler/data/moving-shapes.ts';
import { encodeGif } from '../../../compiler/video/gif.ts';
import { decodeGif } from './gif-decode.ts';

const SHAPE = [16, 32, 32, 3] as const;

// a clip with few colours, so the 256-colour palette holds every one of them exactly
function fewColours(seed: number): Uint8Array {
  const c = new Uint8Array(16 * 32 * 32 * 3);
  for (let i = 0; i < c.length / 3; i++) {
    const k = (Math.imul(i + seed, 2654435761) >>> 28) % 5;
    c.set([k * 50, 255 - k * 40, (k * 97) % 256], 3 * i);
  }
  return c;
}

describe('encodeGif', () => {
  it('decodes to the input frames: header, size, loop forever, delays, 16 frames, exact pixels', () => {
    const clip = fewColours(3);
    const g = decodeGif(encodeGif(clip, SHAPE, { scale: 2 }));
    expect(g.signature).toBe('GIF89a');
    expect([g.width, g.height]).toEqual([64, 64]);
    expect(g.loop).toBe(0);
    expect(g.delaysCs).toEqual(Array(16).fill(13));
    expect(g.frames).toHaveLength(16);
    for (const t of [0, 7, 15]) {
      for (const [y, x] of [[0, 0], [5, 9], [31, 31], [17, 2]] as const) {
        const src = clip.subarray(((t * 32 + y) * 32 + x) * 3, ((t * 32 + y) * 32 + x) * 3 + 3);
        for (const [dy, dx] of [[0, 0], [1, 1]] as const) {
          expect(g.palette[g.frames[t]![(2 * y + dy) * 64 + 2 * x + dx]!]).toEqual(Array.from(src));
        }
      }
    }
  });

  it('is byte-identical for identical input, different for different input; default 4× scale', () => {
    const clip = movingShapesClip(5, 9);
    const a = encodeGif(clip, SHAPE);
    expect(encodeGif(clip.slice(), SHAPE)).toEqual(a);
    expect(encodeGif(movingShapesClip(5, 10), SHAPE)).not.toEqual(a);
    const g = decodeGif(a);
    expect([g.width, g.height, g.frames.length]).toEqual([128, 128, 16]);
  });

  it('rejects wrong sizes and scales', () => {
    expect(() => encodeGif(new Uint8Array(10), SHAPE)).toThrow(/needs 49152 bytes, got 10/);
    expect(() => encodeGif(new Uint8Array(16 * 32 * 32 * 4), [16, 32, 32, 4])).toThrow(/RGB clips/);
    expect(() => encodeGif(fewColours(1), SHAPE, { scale: 0 })).toThrow(/scale must be an integer/);
  });
});
