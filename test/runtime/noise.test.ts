import { describe, expect, it } from 'vitest';
import { gaussianNoise } from '../../runtime/noise.ts';

describe('gaussianNoise', () => {
  it('matches values from an independent Python implementation of the documented formula', () => {
    // python3: lowbias32 on ints & 0xffffffff, math.log/cos/sin in float64, struct-packed to float32
    expect(Array.from(gaussianNoise(5, 0))).toEqual(
      [-0.6119367480278015, -0.6267196536064148, 0.04775324836373329, 0.15542000532150269, -1.1136791706085205]);
    expect(Array.from(gaussianNoise(4, 12345))).toEqual(
      [-0.6001990437507629, 0.45059698820114136, -0.7542513012886047, -0.13691259920597076]);
    expect(Array.from(gaussianNoise(1002, 7).subarray(1000))).toEqual([0.7952725887298584, -0.05084524303674698]);
    expect(Array.from(gaussianNoise(2, -1))).toEqual([0.7825464606285095, 0.028408819809556007]);
  });

  it('is deterministic, prefix-stable and seed-dependent', () => {
    const a = gaussianNoise(4097, 3);
    expect(gaussianNoise(4097, 3)).toEqual(a);
    expect(gaussianNoise(100, 3)).toEqual(a.subarray(0, 100));
    const b = gaussianNoise(4097, 4);
    expect(b.filter((v, i) => v === a[i]).length).toBeLessThan(5);
  });

  it('has mean 0, std 1 and normal tails', () => {
    const n = 200_000;
    const z = gaussianNoise(n, 11);
    let s = 0;
    let s2 = 0;
    let beyond2 = 0;
    for (const v of z) {
      s += v;
      s2 += v * v;
      if (Math.abs(v) > 2) beyond2++;
    }
    const mean = s / n;
    // standard errors: mean 1/√n ≈ 0.0022, std ≈ 0.0016, tail fraction ≈ 0.0005
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(Math.sqrt(s2 / n - mean * mean) - 1)).toBeLessThan(0.01);
    expect(Math.abs(beyond2 / n - 0.0455)).toBeLessThan(0.003);
    expect(z.every(Number.isFinite)).toBe(true);
  });

  it('rejects bad arguments', () => {
    expect(() => gaussianNoise(-1, 0)).toThrow(/non-negative integer/);
    expect(() => gaussianNoise(4, 0.5)).toThrow(/seed must be an integer/);
  });
});
