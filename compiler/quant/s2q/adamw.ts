/*
 * AdamW (Loshchilov & Hutter 2019) with a cosine learning-rate schedule, as FlatQuant trains its transforms
 * (PAPER.md §5: CosineAnnealingLR to η_min = lr·1e-3). The state lives on the CPU: the learned tensors of one
 * block are a few thousand values, so a step costs nothing beside the GPU's forward and backward.
 */

export interface AdamParam {
  readonly name: string;
  readonly value: Float64Array;
  readonly lr: number;
  readonly m: Float64Array;
  readonly v: Float64Array;
}

export interface AdamOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** decoupled weight decay (default 0: decaying a transform towards 0 would make it singular) */
  readonly weightDecay?: number;
}

export function adamParam(name: string, value: Float64Array, lr: number): AdamParam {
  return { name, value, lr, m: new Float64Array(value.length), v: new Float64Array(value.length) };
}

/** lr·(η_min/lr + (1 − η_min/lr)·(1 + cos(π·step/total))/2) with η_min = lr·minRatio. */
export function cosineLr(lr: number, step: number, total: number, minRatio = 1e-3): number {
  const f = total <= 1 ? 1 : 0.5 * (1 + Math.cos((Math.PI * Math.min(step, total)) / total));
  return lr * (minRatio + (1 - minRatio) * f);
}

/** One AdamW update of p with gradient g at 1-based step t and learning-rate factor lrScale (the schedule). */
export function adamStep(p: AdamParam, g: ArrayLike<number>, t: number, lrScale: number, o: AdamOptions = {}): void {
  const [b1, b2, eps, wd] = [o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, o.weightDecay ?? 0];
  if (g.length !== p.value.length) throw new Error(`adam: '${p.name}' has ${p.value.length} values, gradient ${g.length}`);
  const lr = p.lr * lrScale;
  const [c1, c2] = [1 - b1 ** t, 1 - b2 ** t];
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]!;
    if (!Number.isFinite(gi)) throw new Error(`adam: the gradient of '${p.name}' is not finite (${gi} at ${i})`);
    p.m[i] = b1 * p.m[i]! + (1 - b1) * gi;
    p.v[i] = b2 * p.v[i]! + (1 - b2) * gi * gi;
    p.value[i] = p.value[i]! * (1 - lr * wd) - (lr * (p.m[i]! / c1)) / (Math.sqrt(p.v[i]! / c2) + eps);
  }
}
