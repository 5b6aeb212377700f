import { describe, expect, it } from 'vitest';
import { psnr, ssim } from '../../../compiler/eval/fidelity.ts';
import { addNoise, groundTruth } from './helpers.ts';

describe('psnr', () => {
  it('is Infinity for identical clips and falls as noise grows', () => {
    const a = groundTruth(12, 3);
    expect(psnr(a, a.slice())).toBe(Infinity);
    const values = [0.02, 0.05, 0.1, 0.3].map((std, i) => psnr(a, addNoise(a, 40 + i, std)));
    for (let i = 1; i < values.length; i++) expect(values[i]!).toBeLessThan(values[i - 1]!);
    expect(values[0]!).toBeGreaterThan(30);
  });

  it('uses peak-to-peak 2: a uniform offset d gives 10 log10(4 / d^2)', () => {
    const a = groundTruth(1, 1).map((v) => v * 0.5);
    const b = a.map((v) => v + 0.25);
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10(4 / 0.0625), 4);
  });

  it('rejects mismatched lengths', () => {
    expect(() => psnr(new Float32Array(3), new Float32Array(4))).toThrow(/psnr: clips differ in length \(3 vs 4\)/);
  });
});

describe('ssim', () => {
  it('is 1 for identical clips, symmetric, and falls as noise grows', () => {
    const a = groundTruth(40, 8);
    expect(ssim(a, a)).toBe(1);
    const n1 = addNoise(a, 7, 0.05);
    const n2 = addNoise(a, 8, 0.3);
    expect(ssim(a, n1)).toBeCloseTo(ssim(n1, a), 12);
    expect(ssim(a, n1)).toBeLessThan(1);
    expect(ssim(a, n2)).toBeLessThan(ssim(a, n1));
    expect(ssim(a, groundTruth(3, 9))).toBeLessThan(ssim(a, n1));
  });

  it('rejects mismatched or undersized inputs', () => {
    expect(() => ssim(new Float32Array(6), new Float32Array(9))).toThrow(/ssim: clips differ in length/);
    expect(() => ssim(new Float32Array(100), new Float32Array(100))).toThrow(/not a whole number of 32x32x3 frames/);
    expect(() => ssim(new Float32Array(300), new Float32Array(300), 10, 10)).toThrow(/smaller than the 11x11 window/);
  });
});
