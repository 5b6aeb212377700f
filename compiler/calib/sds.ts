import { mulberry32 } from '../data/prng.ts';
import type { StoreReader } from './store.ts';

/**
 * Hessian-aware Salient Data Selection (S²Q-VDiT Eqs. 3–8), over the cond records of a calibration store, x_t
 * being the token matrix entering block 0 (PAPER.md §10 readings 1–4):
 *   C_diff(x_t)  = ‖x_t − x_pair‖² / ‖x_t‖²,  x_pair = the next step of the same prompt's trajectory in sampling
 *                  order; the last step, which has none, pairs with its predecessor
 *   C_quant(x_t) = ‖x_tᵀ x_t‖₂ = σ_max(x_t)², by power iteration (or ‖x_tᵀ x_t‖_F as an option)
 *   C̄ = min–max normalisation over the pool;  C_sample = C̄_diff · C̄_quant;  select the top K.
 */

export interface Candidate {
  readonly prompt: number;
  readonly step: number;
  /** store record of the cond branch */
  readonly cond: number;
  /** store record of the uncond branch of the same forward (a selected sample carries both) */
  readonly uncond: number;
}

export interface PowerOptions {
  /** at most this many iterations (default 20) */
  readonly iterations?: number;
  /** stop once the estimate changes by at most this relative amount (default 1e-4) */
  readonly tol?: number;
  readonly seed?: number;
}

/**
 * ‖XᵀX‖₂ of X [n, d] row-major by power iteration on XᵀX, as v ← Xᵀ(X v) / ‖·‖ (XᵀX is never formed; two n·d
 * passes per step, in f64). Starts from a seeded random vector, so no eigenvector is orthogonal to it by design.
 */
export function spectralNormXtX(x: ArrayLike<number>, n: number, d: number, opts: PowerOptions = {}): { value: number; iterations: number } {
  checkMatrix(x, n, d);
  const iters = opts.iterations ?? 20;
  const tol = opts.tol ?? 1e-4;
  const r = mulberry32((opts.seed ?? 1) >>> 0);
  let v: Float64Array = Float64Array.from({ length: d }, () => r.next() - 0.5);
  scale(v, 1 / norm(v));
  let est = 0;
  for (let it = 1; it <= iters; it++) {
    const y = xtxTimes(x, n, d, v);
    const len = norm(y);
    if (len === 0) return { value: 0, iterations: it };
    scale(y, 1 / len);
    v = y;
    const prev = est;
    est = len;
    if (Math.abs(est - prev) <= tol * est) return { value: est, iterations: it };
  }
  return { value: est, iterations: iters };
}

/** ‖XᵀX‖_F, the Frobenius alternative (PAPER.md §10 reading 2). */
export function frobeniusXtX(x: ArrayLike<number>, n: number, d: number): number {
  checkMatrix(x, n, d);
  let s = 0;
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      let g = 0;
      for (let i = 0; i < n; i++) g += x[i * d + a]! * x[i * d + b]!;
      s += g * g;
    }
  }
  return Math.sqrt(s);
}

function xtxTimes(x: ArrayLike<number>, n: number, d: number, v: Float64Array): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    let xv = 0;
    for (let j = 0; j < d; j++) xv += x[i * d + j]! * v[j]!;
    for (let j = 0; j < d; j++) out[j]! += x[i * d + j]! * xv;
  }
  return out;
}

function norm(v: Float64Array): number {
  let s = 0;
  for (const e of v) s += e * e;
  return Math.sqrt(s);
}

function scale(v: Float64Array, f: number): void {
  for (let i = 0; i < v.length; i++) v[i]! *= f;
}

function checkMatrix(x: ArrayLike<number>, n: number, d: number): void {
  if (!(Number.isInteger(n) && n > 0 && Number.isInteger(d) && d > 0) || x.length !== n * d) {
    throw new Error(`expected an [${n}, ${d}] matrix (${n * d} values), got ${x.length} values`);
  }
}

/** C_diff = ‖x − pair‖² / ‖x‖² (0 for an all-zero x, which carries no signal). */
export function cDiff(x: ArrayLike<number>, pair: ArrayLike<number>): number {
  if (x.length !== pair.length) throw new Error(`C_diff: ${x.length} vs ${pair.length} values`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - pair[i]!;
    num += dx * dx;
    den += x[i]! * x[i]!;
  }
  return den === 0 ? 0 : num / den;
}

/** (v − min) / (max − min); an all-equal pool maps to all ones (every sample equally salient). */
export function minMax(v: readonly number[]): number[] {
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return v.map((x) => (hi > lo ? (x - lo) / (hi - lo) : 1));
}

export interface SdsScores {
  readonly candidates: readonly Candidate[];
  readonly diff: readonly number[];
  readonly quant: readonly number[];
  readonly diffNorm: readonly number[];
  readonly quantNorm: readonly number[];
  /** C_sample = diffNorm · quantNorm */
  readonly score: readonly number[];
}

export interface ScoreOptions {
  /** block whose input is x_t (default 0: the tokens entering the transformer blocks) */
  readonly block?: number;
  readonly norm?: 'spectral' | 'frobenius';
  readonly power?: PowerOptions;
  /** called after each candidate with (done, total) */
  readonly onProgress?: (done: number, total: number) => void;
}

/** The candidate pool of a store: one per (prompt, step), in prompt-major sampling order. */
export function candidates(store: StoreReader): Candidate[] {
  const byKey = new Map<string, { cond?: number; uncond?: number }>();
  for (const r of store.manifest.records) {
    const k = `${r.prompt}:${r.step}`;
    byKey.set(k, { ...byKey.get(k), [r.branch]: r.id });
  }
  const out: Candidate[] = [];
  for (const [k, v] of byKey) {
    const [prompt, step] = k.split(':').map(Number) as [number, number];
    if (v.cond === undefined || v.uncond === undefined) throw new Error(`calibration store: prompt ${prompt} step ${step} lacks a CFG branch`);
    out.push({ prompt, step, cond: v.cond, uncond: v.uncond });
  }
  return out.sort((a, b) => a.prompt - b.prompt || a.step - b.step);
}

/** C_diff, C_quant, their normalisations and product for every candidate; streams one trajectory at a time. */
export function scoreSds(store: StoreReader, opts: ScoreOptions = {}): SdsScores {
  const { tokens, channels } = store.manifest;
  const block = opts.block ?? 0;
  const cands = candidates(store);
  const diff: number[] = [];
  const quant: number[] = [];
  for (const [i, c] of cands.entries()) {
    const x = store.blockInput(block, c.cond);
    const next = cands[i + 1]?.prompt === c.prompt ? cands[i + 1] : undefined;
    const prev = cands[i - 1]?.prompt === c.prompt ? cands[i - 1] : undefined;
    const pair = next ?? prev;
    diff.push(pair ? cDiff(x, store.blockInput(block, pair.cond)) : 0);
    quant.push(opts.norm === 'frobenius' ? frobeniusXtX(x, tokens, channels)
      : spectralNormXtX(x, tokens, channels, opts.power).value);
    opts.onProgress?.(i + 1, cands.length);
  }
  const [diffNorm, quantNorm] = [minMax(diff), minMax(quant)];
  const score = diffNorm.map((d, i) => d * quantNorm[i]!);
  return { candidates: cands, diff, quant, diffNorm, quantNorm, score };
}
