import { formatType, tensorType } from '../../ir/types.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';

/*
 * SmoothQuant (Xiao et al. 2023) channel balancing: activation outlier channels are divided down and the weight
 * columns that multiply them scaled up by the same factor, which is exact in FP:
 *
 *   s_j = max|X_j|^α / max|W_:,j|^(1−α)          (α = 0.5)
 *   x·Wᵀ = (x·diag(s)⁻¹)·(W·diag(s))ᵀ
 *
 * Linears sharing an input (q, k, v) share one s, from the column max over all their weights. Channels where either
 * max is 0 keep s = 1, and s is clamped to [1e-5, 1e5] so that a dead channel cannot blow up the weights.
 */

export const SMOOTH_ALPHA = 0.5;

function columnAbsMax(w: Tensor, name: string): Float32Array {
  if (w.type.shape.length !== 2 || !(w.data instanceof Float32Array)) {
    throw new Error(`smoothScales: weight '${name}' must be a float [N, K] tensor, got ${formatType(w.type)}`);
  }
  const [n, k] = w.type.shape as [number, number];
  const m = new Float32Array(k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) m[j] = Math.max(m[j]!, Math.abs(w.data[r * k + j]!));
  return m;
}

/** The smoothing factors s [K] for the weights reading one activation whose channel absmax is xAbsMax. */
export function smoothScales(xAbsMax: Float32Array, ws: readonly Tensor[], alpha = SMOOTH_ALPHA): Float32Array {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`smoothScales: alpha ${alpha} is not in [0, 1]`);
  const k = xAbsMax.length;
  const wMax = new Float32Array(k);
  ws.forEach((w, i) => {
    if (w.type.shape[1] !== k) {
      throw new Error(`smoothScales: weight ${i} is ${formatType(w.type)}, the activation has ${k} channels`);
    }
    columnAbsMax(w, String(i)).forEach((v, j) => { wMax[j] = Math.max(wMax[j]!, v); });
  });
  return Float32Array.from(xAbsMax, (x, j) => {
    const wm = wMax[j]!;
    if (x === 0 || wm === 0) return 1;
    return Math.min(1e5, Math.max(1e-5, x ** alpha / wm ** (1 - alpha)));
  });
}

/** W·diag(c): column j of w [N, K] multiplied by c_j. */
export function scaleColumns(w: Tensor, c: Float32Array): Tensor {
  const [n, k] = w.type.shape as [number, number];
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) out[r * k + j] = w.data[r * k + j]! * c[j]!;
  return tensor(tensorType('f32', [n, k]), out);
}
