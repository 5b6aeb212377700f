import { describe, expect, it } from 'vitest';
import { gaussianNoise } from '../../runtime/noise.ts';
import { sampleFlow, type Denoiser } from '../../runtime/sampler.ts';

const SIZE = 96;
const NULL = 48;

// Data that is a point mass at x0 has the exact rectified-flow velocity v(x, t) = (x − x0) / t
function pointMass(targets: (cls: number) => Float32Array, calls: { t: number[]; y: number[][] }): Denoiser {
  return async (x, t, y) => {
    calls.t.push(t[0]!);
    calls.y.push(Array.from(y));
    const v = new Float32Array(x.length);
    for (let b = 0; b < y.length; b++) {
      const x0 = targets(y[b]!);
      for (let j = 0; j < SIZE; j++) v[b * SIZE + j] = (x[b * SIZE + j]! - x0[j]!) / t[b]!;
    }
    return v;
  };
}

const target = (seed: number, amp: number): Float32Array => gaussianNoise(SIZE, seed).map((v) => amp * Math.tanh(v));

describe('sampleFlow', () => {
  it('Euler integration recovers x0 of a point mass exactly (straight paths)', async () => {
    const x0 = target(5, 0.9);
    const calls = { t: [] as number[], y: [] as number[][] };
    const den = pointMass(() => x0, calls);
    const [out] = await sampleFlow(den, [gaussianNoise(SIZE, 1)], [3], { steps: 7, cfg: 1, nullClass: NULL });
    for (let j = 0; j < SIZE; j++) expect(out![j]).toBeCloseTo(x0[j]!, 5);
    expect(calls.t).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => Math.fround(1 - i / 7)));
    expect(calls.y[0]).toEqual([3, NULL]);
  });

  it('CFG combines as v_u + s·(v_c − v_u): point masses land on x0_u + s·(x0_c − x0_u)', async () => {
    const byClass = new Map([[1, target(10, 0.3)], [2, target(11, 0.3)], [NULL, target(12, 0.3)]]);
    const calls = { t: [] as number[], y: [] as number[][] };
    const s = 1.7;
    const den = pointMass((c) => byClass.get(c)!, calls);
    const noise = [gaussianNoise(SIZE, 2), gaussianNoise(SIZE, 3)];
    const out = await sampleFlow(den, noise, [1, 2], { steps: 4, cfg: s, nullClass: NULL });
    expect(calls.y).toEqual(Array(4).fill([1, 2, NULL, NULL]));
    const u = byClass.get(NULL)!;
    [1, 2].forEach((c, k) => {
      const want = byClass.get(c)!.map((xc, j) => u[j]! + s * (xc - u[j]!));
      for (let j = 0; j < SIZE; j++) expect(out[k]![j]).toBeCloseTo(Math.max(-1, Math.min(1, want[j]!)), 5);
    });
  });

  it('clips the result to [-1, 1], reports every step, and each clip ignores its batch mates', async () => {
    const big = new Float32Array(SIZE).fill(3);
    const steps: number[] = [];
    const den = pointMass((c) => (c === 7 ? big : target(c, 0.5)), { t: [], y: [] });
    const [a, b] = await sampleFlow(den, [gaussianNoise(SIZE, 1), gaussianNoise(SIZE, 2)], [7, 4], {
      steps: 3, cfg: 1, nullClass: NULL, onStep: (i, n) => steps.push(i * 10 + n),
    });
    expect(steps).toEqual([13, 23, 33]);
    expect(a!.every((v) => v === 1)).toBe(true);
    const [solo] = await sampleFlow(den, [gaussianNoise(SIZE, 2)], [4], { steps: 3, cfg: 1, nullClass: NULL });
    expect(solo).toEqual(b);
  });

  it('rejects bad arguments', async () => {
    const den = pointMass(() => new Float32Array(SIZE), { t: [], y: [] });
    const n = [gaussianNoise(SIZE, 1)];
    const ok = { steps: 2, cfg: 1, nullClass: NULL };
    await expect(sampleFlow(den, n, [1, 2], ok)).rejects.toThrow(/1 noise tensors but 2/);
    await expect(sampleFlow(den, n, [1], { steps: 0, cfg: 1, nullClass: NULL })).rejects.toThrow(/steps must be/);
    await expect(sampleFlow(den, n, [1], { ...ok, cfg: NaN })).rejects.toThrow(/cfg must be finite/);
    const short: Denoiser = async () => new Float32Array(3);
    await expect(sampleFlow(short, n, [1], ok)).rejects.toThrow(/returned 3 values/);
  });
});
