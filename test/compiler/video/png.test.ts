import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { movingShapesClip } from '../../../compiler/data/moving-shapes.ts';
import { writePngFrames } from '../../../compiler/video/png.ts';

const SHAPE = [16, 32, 32, 3] as const;
const root = mkdtempSync(join(tmpdir(), 'vdit-png-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('writePngFrames', () => {
  it('writes 16 upscaled frames that decode to the clip, byte-identical on rewrite', () => {
    const clip = movingShapesClip(20, 4);
    const dir = join(root, 'frames');
    const files = writePngFrames(dir, clip, SHAPE, 3);
    expect(readdirSync(dir).sort()).toEqual(files.map((f) => f.slice(dir.length + 1)));
    expect(files).toHaveLength(16);
    const img = decode(readFileSync(files[9]!));
    expect([img.width, img.height, img.channels, img.depth]).toEqual([96, 96, 3, 8]);
    for (const [y, x] of [[0, 0], [13, 27], [31, 31]] as const) {
      const src = Array.from(clip.subarray(((9 * 32 + y) * 32 + x) * 3, ((9 * 32 + y) * 32 + x) * 3 + 3));
      const o = ((3 * y + 2) * 96 + 3 * x + 1) * 3;
      expect(Array.from(img.data.subarray(o, o + 3))).toEqual(src);
    }
    const before = files.map((f) => readFileSync(f));
    writeFileSync(join(dir, 'keep.txt'), 'not ours');
    writePngFrames(dir, clip, SHAPE, 3);
    expect(files.map((f) => readFileSync(f))).toEqual(before);
    expect(readdirSync(dir)).toContain('keep.txt');
    expect(readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses a target that is a file', () => {
    const file = join(root, 'plain');
    writeFileSync(file, 'x');
    expect(() => writePngFrames(file, movingShapesClip(0, 0), SHAPE)).toThrow(/not a folder/);
  });
});
