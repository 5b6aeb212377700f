import { describe, expect, it } from 'vitest';
import { pickClips, sideBySide } from '../../bench/prune-clips.ts';
import { mulberry32 } from '../../compiler/data/prng.ts';

describe('bench/prune-clips.ts', () => {
  it('picks the worst, quartile, median and best clips by PSNR vs dense, distinct', () => {
    const clips = [31, 12, 40, 25, 28, 19, 35].map((psnr, i) => ({ class: i, className: `c${i}`, seed: 0, psnr }));
    expect(pickClips(clips, 4).map((c) => c.psnr)).toEqual([12, 25, 31, 40]);
    expect(pickClips(clips.slice(0, 2), 4).map((c) => c.psnr)).toEqual([12, 31]);
    expect(() => pickClips([{ class: 0, className: 'x', seed: 0 }], 2)).toThrow(/no PSNR vs dense/);
  });

  it('lays each pair out as dense | changed | gain·|difference| per frame', () => {
    const shape = [2, 3, 4, 3] as const;
    const r = mulberry32(5);
    const clip = (): Float32Array => Float32Array.from({ length: 2 * 3 * 4 * 3 }, () => 2 * r.next() - 1);
    const rows = [[clip(), clip()], [clip(), clip()]] as const;
    const out = sideBySide(rows, shape, 4);
    expect(out.length).toBe(2 * 2 * 3 * 3 * 4 * 3);
    const at = (t: number, y: number, x: number, c: number): number => out[((t * 6 + y) * 12 + x) * 3 + c]!;
    for (const [t, row, y, x, c] of [[0, 0, 0, 0, 0], [1, 1, 2, 3, 2], [1, 0, 1, 2, 1]] as const) {
      const i = ((t * 3 + y) * 4 + x) * 3 + c;
      const [a, b] = [rows[row][0][i]!, rows[row][1][i]!];
      expect(at(t, row * 3 + y, x, c)).toBe(a);
      expect(at(t, row * 3 + y, 4 + x, c)).toBe(b);
      expect(at(t, row * 3 + y, 8 + x, c)).toBeCloseTo(Math.min(1, -1 + 4 * Math.abs(a - b)), 6);
    }
  });
});
