import { formatType, tensorType } from '../../ir/types.ts';
import { qrange, quantizeRows, roundHalfEven, weightDtype, type WeightBits } from '../../ir/quant.ts';
import { packNibbles } from '../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { choleskyUpper, invertSpd } from './linalg.ts';
import { relErrorOf, type RtnWeight } from './rtn.ts';

/*
 * GPTQ (Frantar et al. 2023) per layer: columns are quantized one at a time and each one's rounding error is pushed
 * onto the columns not yet quantized, weighted by the inverse Hessian H⁻¹ of the layer input (H = XᵀX), so the
 * output error ‖XWᵀ − XŴᵀ‖ rather than ‖W − Ŵ‖ is what is minimised. Settings of the lineage (PAPER.md §5):
 * damping 0.01 × mean diag H, blocks of 128 columns (lazy batch updates), natural column order (act-order opt-in).
 * The per-output-channel scale is RTN's (absmax of the original row / qmax), so the result packs exactly as RTN's
 * and deploys through the same qgemm.
 */

export interface GptqOptions {
  /** fraction of mean diag H added to the diagonal (default 0.01) */
  readonly damp?: number;
  /** columns per lazy-update block (default 128) */
  readonly blockSize?: number;
  /** quantize columns in order of decreasing H_jj (default false) */
  readonly actOrder?: boolean;
  /** per-output-channel scales Δ [N] to quantize with instead of RTN's absmax / qmax (a learned weight clip) */
  readonly scale?: Float32Array;
}

// q, k and v read one input, so one H: its O(K³) factor is computed once per (H, damp, order)
const FACTORS = new WeakMap<Float64Array, Map<string, Float64Array>>();

function cachedFactor(h: Float64Array, k: number, perm: readonly number[], damp: number, key: string): Float64Array {
  const byKey = FACTORS.get(h) ?? new Map<string, Float64Array>();
  FACTORS.set(h, byKey);
  let u = byKey.get(key);
  if (!u) byKey.set(key, (u = hessianFactor(h, k, perm, damp)));
  return u;
}

/** Upper Cholesky factor of (H + damp·I)⁻¹ after zeroing dead inputs (H_jj = 0), in the column order `perm`. */
function hessianFactor(h: Float64Array, k: number, perm: readonly number[], damp: number): Float64Array {
  const hp = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) hp[i * k + j] = h[perm[i]! * k + perm[j]!]!;
  let mean = 0;
  for (let i = 0; i < k; i++) {
    if (hp[i * k + i] === 0) hp[i * k + i] = 1;
    mean += hp[i * k + i]! / k;
  }
  for (let i = 0; i < k; i++) hp[i * k + i]! += damp * mean;
  return choleskyUpper(invertSpd(hp, k), k);
}

function checkInputs(w: Tensor, h: Float64Array, name: string): [number, number] {
  if (w.type.shape.length !== 2 || !(w.data instanceof Float32Array)) {
    throw new Error(`gptqQuantize(${name}): expects a float 2-D weight [N, K], got ${formatType(w.type)}`);
  }
  const [n, k] = w.type.shape as [number, number];
  if (h.length !== k * k) throw new Error(`gptqQuantize(${name}): Hessian has ${h.length} values, expected ${k}×${k}`);
  return [n, k];
}

/** GPTQ-quantizes w [N, K] given H = XᵀX [K, K] of its input; the same tensors as rtnQuantize. */
export function gptqQuantize(
  w: Tensor, h: Float64Array, bits: WeightBits, opts: GptqOptions = {}, name = 'weight',
): RtnWeight {
  const [n, k] = checkInputs(w, h, name);
  const wd = w.data as Float32Array;
  if (opts.scale && (opts.scale.length !== n || !opts.scale.every((s) => s > 0 && Number.isFinite(s)))) {
    throw new Error(`gptqQuantize(${name}): scale must hold ${n} positive finite values`);
  }
  const scale = opts.scale ?? quantizeRows(wd, n, k, bits).scale;
  const diag = Array.from({ length: k }, (_, j) => h[j * k + j]!);
  const perm = Array.from({ length: k }, (_, j) => j);
  if (opts.actOrder) perm.sort((a, b) => diag[b]! - diag[a]! || a - b);
  const damp = opts.damp ?? 0.01;
  const u = cachedFactor(h, k, perm, damp, `${damp}:${opts.actOrder === true}`);
  // work copy in the permuted column order; dead inputs (H_jj = 0) never contribute, so they start at 0
  const work = new Float64Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < k; j++) work[r * k + j] = diag[perm[j]!] === 0 ? 0 : wd[r * k + perm[j]!]!;
  }
  const qp = quantizeColumns(work, u, scale, n, k, bits, opts.blockSize ?? 128);
  const q = new Int8Array(n * k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) q[r * k + perm[j]!] = qp[r * k + j]!;
  const dtype = weightDtype(bits);
  return {
    q: tensor(tensorType(dtype, [n, k]), dtype === 'i4' ? packNibbles(q, [n, k]) : q),
    scale: tensor(tensorType('f32', [n, 1]), scale),
    relError: relErrorOf(wd, q, scale, k),
  };
}

/** The GPTQ sweep over the (permuted) work matrix, updated in place; returns the integer codes. */
function quantizeColumns(
  work: Float64Array, u: Float64Array, scale: Float32Array, n: number, k: number, bits: number, block: number,
): Int8Array {
  const [lo, hi] = qrange(bits);
  const q = new Int8Array(n * k);
  const err = new Float64Array(n * block);
  for (let i1 = 0; i1 < k; i1 += block) {
    const i2 = Math.min(i1 + block, k);
    for (let i = i1; i < i2; i++) {
      const d = u[i * k + i]!;
      for (let r = 0; r < n; r++) {
        const v = work[r * k + i]!;
        const qi = Math.min(hi, Math.max(lo, roundHalfEven(v / scale[r]!)));
        q[r * k + i] = qi;
        const e = (v - qi * scale[r]!) / d;
        err[r * block + (i - i1)] = e;
        // within the block: update the columns right of i at once
        for (let j = i + 1; j < i2; j++) work[r * k + j]! -= e * u[i * k + j]!;
      }
    }
    // lazy batch: the block's errors reach the remaining columns in one pass
    for (let r = 0; r < n; r++) {
      for (let i = i1; i < i2; i++) {
        const e = err[r * block + (i - i1)]!;
        if (e === 0) continue;
        const [wr, ur] = [r * k, i * k];
        for (let j = i2; j < k; j++) work[wr + j]! -= e * u[ur + j]!;
      }
    }
  }
  return q;
}
