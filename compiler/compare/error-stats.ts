import type { Tensor } from '../../runtime/tensor.ts';
import type { Tolerance } from './tolerance.ts';

/** How far a kernel's result is from the reference's, and whether every element is within the tolerance. */
export interface ErrorStats {
  readonly maxAbsError: number;
  /**
   * max |got − want| / |want| over elements with |want| ≥ 1e-3 · max |want|: near-zero references would make
   * any rounding look infinite, and the absolute error already covers them
   */
  readonly maxRelError: number;
  /** elements outside atol + rtol·|want|; non-finite results where the reference is finite count here too */
  readonly violations: number;
  readonly elements: number;
  readonly ok: boolean;
}

/** Element-wise comparison in float64 (integer tensors compare exactly under EXACT). */
export function errorStats(got: Tensor, want: Tensor, tol: Tolerance): ErrorStats {
  if (got.type.shape.join() !== want.type.shape.join() || got.data.length !== want.data.length) {
    throw new Error(`compare: result [${got.type.shape.join(',')}] against a reference [${want.type.shape.join(',')}]`);
  }
  const a = got.data as ArrayLike<number>;
  const b = want.data as ArrayLike<number>;
  let refMax = 0;
  for (let i = 0; i < b.length; i++) if (Number.isFinite(b[i]!)) refMax = Math.max(refMax, Math.abs(b[i]!));
  const floor = 1e-3 * refMax;
  let [maxAbs, maxRel, violations] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    const [g, w] = [a[i]!, b[i]!];
    if (Number.isNaN(g) && Number.isNaN(w)) continue;
    const d = g === w ? 0 : Math.abs(g - w);
    // a NaN difference (one side NaN, or ∞ − ∞ of opposite signs) is an infinite error
    const err = Number.isNaN(d) ? Infinity : d;
    maxAbs = Math.max(maxAbs, err);
    if (Math.abs(w) >= floor && w !== 0) maxRel = Math.max(maxRel, err / Math.abs(w));
    if (!(err <= tol.atol + tol.rtol * Math.abs(w))) violations++;
  }
  return { maxAbsError: maxAbs, maxRelError: maxRel, violations, elements: a.length, ok: violations === 0 };
}
