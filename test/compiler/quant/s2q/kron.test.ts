import { describe, expect, it } from 'vitest';
import {
  initFactor, invert, kronDims, kronRows, matmulSq, transformInput, transformWeight, transpose,
} from '../../../../compiler/quant/s2q/kron.ts';
import { mulberry32 } from '../../../../compiler/data/prng.ts';

const rand = (n: number, seed: number, lo = -1, hi = 1): Float64Array => {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r.next());
};

describe('Kronecker transform (compiler/quant/s2q/kron.ts)', () => {
  it('splits K into d1 ≤ √K ≤ d2 with d1·d2 = K', () => {
    expect(kronDims(256)).toEqual([16, 16]);
    expect(kronDims(1024)).toEqual([32, 32]);
    expect(kronDims(96)).toEqual([8, 12]);
    expect(kronDims(7)).toEqual([1, 7]);
    expect(() => kronDims(0)).toThrow(/positive integer/);
  });

  it('inverts a random factor (A·A⁻¹ = I) and refuses a singular one', () => {
    const d = 9;
    const a = rand(d * d, 1);
    const id = matmulSq(a, invert(a, d), d);
    id.forEach((v, i) => expect(v).toBeCloseTo(i % (d + 1) === 0 ? 1 : 0, 10));
    const sing = Float64Array.from(a);
    for (let j = 0; j < d; j++) sing[d + j] = 2 * sing[j]!;
    expect(() => invert(sing, d)).toThrow(/singular/);
  });

  it('the Hadamard initialisation is orthogonal', () => {
    const h = initFactor(16);
    const p = matmulSq(h, transpose(h, 16), 16);
    p.forEach((v, i) => expect(v).toBeCloseTo(i % 17 === 0 ? 1 : 0, 12));
  });

  it('kronRows(x, L, R) = x·(Lᵀ ⊗ R) against the explicit Kronecker product', () => {
    const [d1, d2] = [3, 4];
    const k = d1 * d2;
    const [l, r, x] = [rand(d1 * d1, 2), rand(d2 * d2, 3), rand(2 * k, 4)];
    const got = kronRows(x, 2, l, r, d1, d2);
    // (Lᵀ ⊗ R)[i·d2 + p, j·d2 + q] = L[j, i]·R[p, q]
    for (let row = 0; row < 2; row++) {
      for (let c = 0; c < k; c++) {
        const [j, q] = [Math.floor(c / d2), c % d2];
        let want = 0;
        for (let e = 0; e < k; e++) want += x[row * k + e]! * l[j * d1 + Math.floor(e / d2)]! * r[(e % d2) * d2 + q]!;
        expect(got[row * k + c]).toBeCloseTo(want, 12);
      }
    }
  });

  it('x̃·W̃ᵀ = x·Wᵀ for a random scale and random (non-orthogonal) factors', () => {
    const [d1, d2, n, rows] = [4, 6, 5, 7];
    const k = d1 * d2;
    const t = { k, d1, d2, s: rand(k, 5, 0.2, 3), p1: rand(d1 * d1, 6), p2: rand(d2 * d2, 7) };
    const [x, w] = [rand(rows * k, 8), rand(n * k, 9)];
    const xt = transformInput(t, x, rows);
    const wt = transformWeight(t, w, n);
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < n; c++) {
        let [a, b] = [0, 0];
        for (let j = 0; j < k; j++) {
          a += xt[i * k + j]! * wt[c * k + j]!;
          b += x[i * k + j]! * w[c * k + j]!;
        }
        expect(a).toBeCloseTo(b, 9);
      }
    }
    // and the transform is not the identity
    expect(Math.max(...xt.map((v, i) => Math.abs(v - x[i]!)))).toBeGreaterThan(0.1);
  });
});
