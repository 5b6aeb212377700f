import { hadamardMatrix } from '../rotation.ts';

/*
 * The learnable affine transform of S²Q-VDiT (FlatQuant's Kronecker form, PAPER.md §2): for an input of K = d1·d2
 * channels, P = P1 ⊗ P2 with P1 [d1, d1], P2 [d2, d2], and a diagonal balancing scale s [K]:
 *
 *   x̃ = (x·diag(s))·(P1 ⊗ P2) = vec_r(P1ᵀ · X · P2)           X = x reshaped [d1, d2] row-major
 *   W̃ = (W·diag(s)⁻¹)·(P1 ⊗ P2)⁻ᵀ = vec_r(P1⁻¹ · W_c · P2⁻ᵀ)    per output row c,  so x̃·W̃ᵀ = x·Wᵀ exactly in FP
 *
 * Online cost 2·K·(d1 + d2) multiply-adds per token instead of 2·K² for a dense K×K transform. Only small d×d
 * inverses are ever needed (this file, f64 on the CPU). d1 is the largest divisor of K not above √K.
 */

export function kronDims(k: number): [number, number] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`kron: width ${k} is not a positive integer`);
  let d1 = Math.floor(Math.sqrt(k));
  while (k % d1 !== 0) d1--;
  return [d1, k / d1];
}

/** Hadamard-initialised factor (block Hadamard when d is not a power of two; identity for d = 1). */
export function initFactor(d: number): Float64Array {
  return Float64Array.from(hadamardMatrix(d));
}

/** A⁻¹ of a d×d row-major matrix by Gauss–Jordan with partial pivoting; throws when A is (numerically) singular. */
export function invert(a: ArrayLike<number>, d: number): Float64Array {
  if (a.length !== d * d) throw new Error(`invert: ${a.length} values are not ${d}×${d}`);
  const m = Float64Array.from(a);
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  let scale = 0;
  for (const v of m) scale = Math.max(scale, Math.abs(v));
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r * d + c]!) > Math.abs(m[p * d + c]!)) p = r;
    const piv = m[p * d + c]!;
    if (!(Math.abs(piv) > 1e-12 * scale)) throw new Error(`invert: the ${d}×${d} transform factor is singular`);
    if (p !== c) {
      for (let j = 0; j < d; j++) {
        [m[c * d + j], m[p * d + j]] = [m[p * d + j]!, m[c * d + j]!];
        [inv[c * d + j], inv[p * d + j]] = [inv[p * d + j]!, inv[c * d + j]!];
      }
    }
    for (let j = 0; j < d; j++) {
      m[c * d + j]! /= piv;
      inv[c * d + j]! /= piv;
    }
    for (let r = 0; r < d; r++) {
      const f = m[r * d + c]!;
      if (r === c || f === 0) continue;
      for (let j = 0; j < d; j++) {
        m[r * d + j]! -= f * m[c * d + j]!;
        inv[r * d + j]! -= f * inv[c * d + j]!;
      }
    }
  }
  return inv;
}

export function transpose(a: ArrayLike<number>, d: number): Float64Array {
  const t = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = a[i * d + j]!;
  return t;
}

/** A·B for d×d row-major matrices. */
export function matmulSq(a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  const c = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let p = 0; p < d; p++) {
      const v = a[i * d + p]!;
      if (v === 0) continue;
      for (let j = 0; j < d; j++) c[i * d + j]! += v * b[p * d + j]!;
    }
  }
  return c;
}

/** vec_r(L · X_r · R) for every row r of x [rows, d1·d2]: X_r is row r reshaped [d1, d2]. */
export function kronRows(x: ArrayLike<number>, rows: number, l: ArrayLike<number>, r: ArrayLike<number>, d1: number, d2: number): Float64Array {
  const k = d1 * d2;
  const out = new Float64Array(rows * k);
  const xr = new Float64Array(k);
  for (let row = 0; row < rows; row++) {
    // X·R
    for (let i = 0; i < d1; i++) {
      for (let j = 0; j < d2; j++) {
        let acc = 0;
        for (let p = 0; p < d2; p++) acc += x[row * k + i * d2 + p]! * r[p * d2 + j]!;
        xr[i * d2 + j] = acc;
      }
    }
    // L·(X·R)
    for (let i = 0; i < d1; i++) {
      for (let j = 0; j < d2; j++) {
        let acc = 0;
        for (let p = 0; p < d1; p++) acc += l[i * d1 + p]! * xr[p * d2 + j]!;
        out[row * k + i * d2 + j] = acc;
      }
    }
  }
  return out;
}

export interface KronTransform {
  readonly k: number;
  readonly d1: number;
  readonly d2: number;
  /** balancing scale s [K] */
  readonly s: ArrayLike<number>;
  readonly p1: ArrayLike<number>;
  readonly p2: ArrayLike<number>;
}

/** x̃ = (x·diag(s))·(P1 ⊗ P2) for x [rows, K]. */
export function transformInput(t: KronTransform, x: ArrayLike<number>, rows: number): Float64Array {
  const xs = Float64Array.from({ length: rows * t.k }, (_, i) => x[i]! * t.s[i % t.k]!);
  return kronRows(xs, rows, transpose(t.p1, t.d1), t.p2, t.d1, t.d2);
}

/** W̃ = (W·diag(s)⁻¹)·(P1 ⊗ P2)⁻ᵀ for w [N, K]. */
export function transformWeight(t: KronTransform, w: ArrayLike<number>, n: number): Float64Array {
  const ws = Float64Array.from({ length: n * t.k }, (_, i) => w[i]! / t.s[i % t.k]!);
  return kronRows(ws, n, invert(t.p1, t.d1), transpose(invert(t.p2, t.d2), t.d2), t.d1, t.d2);
}
