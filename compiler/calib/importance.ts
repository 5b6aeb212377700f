import type { StoreReader } from './store.ts';

/**
 * Attention-guided token weights (S²Q-VDiT Eq. 11): from a block's attention importance S (attention_colsum of the
 * FP model, the attention each token receives summed over heads and queries),
 *   λ_j = (S_j − min S) / (max S − min S) · (1 − λ_min) + λ_min     ∈ [λ_min, 1], λ_min = 0.5 by default,
 * normalised per (sample, branch, block) over video tokens only; the leading text tokens get λ = 1
 * (PAPER.md §10 readings 7, 8). A constant S carries no salience, so every video token then gets λ = 1.
 */
export const DEFAULT_LAMBDA_MIN = 0.5;

export interface LambdaOptions {
  readonly lambdaMin?: number;
  /** leading text tokens, excluded from the min–max and given λ = 1 */
  readonly textTokens?: number;
}

export function lambdaFromImportance(s: ArrayLike<number>, opts: LambdaOptions = {}): Float32Array {
  const lmin = opts.lambdaMin ?? DEFAULT_LAMBDA_MIN;
  const text = opts.textTokens ?? 0;
  if (!(lmin >= 0 && lmin <= 1)) throw new Error(`λ_min must be in [0, 1], got ${lmin}`);
  if (!(Number.isInteger(text) && text >= 0 && text < s.length)) {
    throw new Error(`text tokens must be an integer in [0, ${s.length}), got ${text}`);
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = text; j < s.length; j++) {
    const v = s[j]!;
    if (!Number.isFinite(v)) throw new Error(`attention importance S[${j}] = ${v} is not finite`);
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const out = new Float32Array(s.length).fill(1);
  if (hi > lo) for (let j = text; j < s.length; j++) out[j] = ((s[j]! - lo) / (hi - lo)) * (1 - lmin) + lmin;
  return out;
}

/** λ of every block for each store record in `records`: result[block] is [records.length, keys] row-major. */
export function lambdasForRecords(store: StoreReader, records: readonly number[], opts: Omit<LambdaOptions, 'textTokens'> = {}): Float32Array[] {
  const { blocks, keys, textTokens } = store.manifest;
  if (keys === undefined) throw new Error(`${store.dir}: the store holds no attention importance (record it with importance on)`);
  return Array.from({ length: blocks }, (_, b) => {
    const out = new Float32Array(records.length * keys);
    records.forEach((id, r) => out.set(lambdaFromImportance(store.importance(b, id), { ...opts, textTokens }), r * keys));
    return out;
  });
}
