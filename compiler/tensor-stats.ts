import type { Tensor } from '../runtime/tensor.ts';

export interface TensorStats {
  readonly shape: readonly number[];
  readonly mean: number;
  readonly std: number;
  readonly min: number;
  readonly max: number;
  readonly absMax: number;
  readonly nonFinite: number;
}

export function tensorStats(t: Tensor): TensorStats {
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  let bad = 0;
  for (const v of t.data as Iterable<number>) {
    if (!Number.isFinite(v)) {
      bad++;
      continue;
    }
    sum += v;
    sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const n = Math.max(t.data.length - bad, 1);
  const mean = sum / n;
  return {
    shape: t.type.shape,
    mean,
    std: Math.sqrt(Math.max(sq / n - mean * mean, 0)),
    min,
    max,
    absMax: Math.max(Math.abs(min), Math.abs(max)),
    nonFinite: bad,
  };
}

/**
 * Error of `got` against the reference `want`: max |got − want| and that maximum over max |want| (a relative error
 * that stays meaningful where individual reference elements are near zero). Non-finite values count as infinite error.
 */
export function compareTensors(got: Tensor, want: Tensor): { maxAbsError: number; maxRelError: number } {
  if (got.data.length !== want.data.length) {
    throw new Error(`compare: ${got.data.length} elements against a reference of ${want.data.length}`);
  }
  let maxAbs = 0;
  let refMax = 0;
  const a = got.data as ArrayLike<number>;
  const b = want.data as ArrayLike<number>;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    refMax = Math.max(refMax, Math.abs(b[i]!));
  }
  return { maxAbsError: maxAbs, maxRelError: maxAbs / Math.max(refMax, 1e-30) };
}
