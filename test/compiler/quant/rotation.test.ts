import { describe, expect, it } from 'vitest';
import { hadamardBlock, hadamardMatrix, hadamardRows, rightMultiply } from '../../../compiler/quant/rotation.ts';
import { scaleColumns, smoothScales } from '../../../compiler/quant/smoothquant.ts';
import { hashUniform } from '../../../compiler/weights/init.ts';
import { tensorType } from '../../../ir/types.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';

const rand = (seed: number, n: number): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => 2 * hashUniform(seed, 1, i) - 1);

/** x [M, K] · wᵀ for w [N, K] */
function linear(x: Float32Array, w: Tensor, m: number): Float64Array {
  const [n, k] = w.type.shape as [number, number];
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < n; c++) for (let j = 0; j < k; j++) y[i * n + c]! += x[i * k + j]! * w.data[c * k + j]!;
  }
  return y;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('hadamardMatrix', () => {
  for (const k of [1, 2, 64, 96]) {
    it(`K = ${k} (block ${hadamardBlock(k)}): orthogonal and symmetric (≤ 1e-6)`, () => {
      const h = hadamardMatrix(k);
      let err = 0;
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += h[i * k + p]! * h[j * k + p]!;
          err = Math.max(err, Math.abs(s - (i === j ? 1 : 0)), Math.abs(h[i * k + j]! - h[j * k + i]!));
        }
      }
      expect(err).toBeLessThan(1e-6);
    });
  }

  it('mixes every channel within a block (no zero entry for a power of two)', () => {
    expect(hadamardMatrix(32).every((v) => Math.abs(Math.abs(v) - 1 / Math.sqrt(32)) < 1e-7)).toBe(true);
    expect(hadamardBlock(96)).toBe(32);
    expect(() => hadamardMatrix(0)).toThrow(/width 0 is not a positive integer/);
  });

  it('hadamardRows (fast transform) equals W·H by matrix product (≤ 1e-6)', () => {
    for (const k of [64, 96]) {
      const w = tensor(tensorType('f32', [3, k]), rand(9, 3 * k));
      expect(maxAbsDiff(hadamardRows(w).data, rightMultiply(w, hadamardMatrix(k)).data)).toBeLessThan(1e-6);
    }
  });

  it('(x·H)·(W·H)ᵀ = x·Wᵀ (≤ 1e-4)', () => {
    const [m, n, k] = [5, 7, 96];
    const x = rand(1, m * k);
    const w = tensor(tensorType('f32', [n, k]), rand(2, n * k));
    const h = hadamardMatrix(k);
    const xh = rightMultiply(tensor(tensorType('f32', [m, k]), x), h);
    const got = linear(xh.data as Float32Array, rightMultiply(w, h), m);
    expect(maxAbsDiff(got, linear(x, w, m))).toBeLessThan(1e-4);
  });
});

describe('smoothScales', () => {
  it('s_j = max|X_j|^0.5 / max|W_j|^0.5 over all weights sharing the input; zero channels keep 1', () => {
    const xMax = Float32Array.from([4, 0, 9, 1]);
    const w1 = tensor(tensorType('f32', [2, 4]), Float32Array.from([1, 2, 0.5, 0, -4, 1, 0.25, 0]));
    const w2 = tensor(tensorType('f32', [1, 4]), Float32Array.from([0.5, 3, -9, 0]));
    const s = smoothScales(xMax, [w1, w2]);
    // column maxima over both weights are 4, 3, 9, 0: channel 1 has no activation, channel 3 no weight
    expect(Array.from(s)).toEqual([1, 1, 1, 1]);
    const s2 = smoothScales(Float32Array.from([16, 1, 1, 1]), [w1]);
    expect(s2[0]).toBeCloseTo(16 ** 0.5 / 4 ** 0.5, 6);
    expect(s2[2]).toBeCloseTo(1 / 0.5 ** 0.5, 6);
    expect(() => smoothScales(xMax, [tensor(tensorType('f32', [1, 3]), new Float32Array(3))]))
      .toThrow(/weight 0 is f32\[1,3\], the activation has 4 channels/);
  });

  it('(x / s)·(W·diag(s))ᵀ = x·Wᵀ (≤ 1e-4)', () => {
    const [m, n, k] = [4, 6, 16];
    const x = rand(3, m * k).map((v, i) => v * (i % k === 5 ? 50 : 1));
    const w = tensor(tensorType('f32', [n, k]), rand(4, n * k));
    const xMax = new Float32Array(k);
    x.forEach((v, i) => { xMax[i % k] = Math.max(xMax[i % k]!, Math.abs(v)); });
    const s = smoothScales(xMax, [w]);
    expect(s[5]).toBeGreaterThan(3);
    const got = linear(x.map((v, i) => v / s[i % k]!), scaleColumns(w, s), m);
    expect(maxAbsDiff(got, linear(x, w, m))).toBeLessThan(1e-4);
  });
});
