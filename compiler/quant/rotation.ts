import { tensorType } from '../../ir/types.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';

/*
 * QuaRot-style rotation (Ashkboos et al. 2024): an orthogonal H spreads activation outliers over all channels
 * before the per-token quantization, and is exact in FP because H·Hᵀ = I:
 *
 *   x·Wᵀ = (x·H)·(W·H)ᵀ          W ← W·H offline;  x ← x·H online (before token_scale / quantize)
 *
 * H is the normalised Walsh–Hadamard matrix (Sylvester order, entries ±1/√b) when K is a power of two. For other K,
 * K = m·2^a with m odd: H = I_m ⊗ H_{2^a}, a block-diagonal Hadamard over m blocks of the largest power of two
 * dividing K. That is still orthogonal and symmetric (so exact), only mixing within blocks; with 2^a = 1 it is
 * the identity, which the caller reports as no rotation.
 */

/** Largest power of two dividing k (the Hadamard block size used for width k). */
export function hadamardBlock(k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new Error(`hadamard: width ${k} is not a positive integer`);
  return k & -k;
}

/** The K×K normalised (block) Hadamard matrix, row-major; symmetric and orthogonal. */
export function hadamardMatrix(k: number): Float32Array {
  const b = hadamardBlock(k);
  const h = new Float32Array(k * k);
  const v = 1 / Math.sqrt(b);
  for (let base = 0; base < k; base += b) {
    for (let i = 0; i < b; i++) {
      // Sylvester: H_ij = (−1)^popcount(i & j)
      for (let j = 0; j < b; j++) h[(base + i) * k + base + j] = popcount(i & j) % 2 ? -v : v;
    }
  }
  return h;
}

function popcount(x: number): number {
  let c = 0;
  for (let y = x; y; y &= y - 1) c++;
  return c;
}

/**
 * W·H for w [N, K] and H = hadamardMatrix(K), by the fast Walsh–Hadamard transform of each row's blocks:
 * N·K·log2(b) additions instead of N·K² multiply-adds (equal to rightMultiply(w, hadamardMatrix(K)) up to rounding).
 */
export function hadamardRows(w: Tensor): Tensor {
  const [n, k] = w.type.shape as [number, number];
  const b = hadamardBlock(k);
  const norm = 1 / Math.sqrt(b);
  const out = new Float32Array(n * k);
  const row = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < k; j++) row[j] = w.data[r * k + j]!;
    for (let base = 0; base < k; base += b) {
      // Sylvester butterflies; H is symmetric, so transforming the row is multiplying by H on the right
      for (let h = 1; h < b; h *= 2) {
        for (let i = base; i < base + b; i += 2 * h) {
          for (let j = i; j < i + h; j++) [row[j], row[j + h]] = [row[j]! + row[j + h]!, row[j]! - row[j + h]!];
        }
      }
    }
    for (let j = 0; j < k; j++) out[r * k + j] = row[j]! * norm;
  }
  return tensor(tensorType('f32', [n, k]), out);
}

/** W·M for w [N, K] and a square M [K, K] (row-major); f64 accumulation, f32 result. */
export function rightMultiply(w: Tensor, m: Float32Array): Tensor {
  const [n, k] = w.type.shape as [number, number];
  if (m.length !== k * k) throw new Error(`rightMultiply: matrix has ${m.length} values, expected ${k}×${k}`);
  const out = new Float32Array(n * k);
  const acc = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    acc.fill(0);
    for (let p = 0; p < k; p++) {
      const a = w.data[r * k + p]!;
      if (a === 0) continue;
      for (let j = 0; j < k; j++) acc[j]! += a * m[p * k + j]!;
    }
    out.set(acc, r * k);
  }
  return tensor(tensorType('f32', [n, k]), out);
}
