import { isFloat } from '../../ir/dtype.ts';
import type { Node } from '../../ir/node.ts';
import { isElementwise, type Op } from '../../ir/ops.ts';

/** |wgsl − reference| ≤ atol + rtol·|reference| for every element (numpy allclose); exact when both are 0. */
export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
  /** why this bound: printed with --show and kept in --json */
  readonly why: string;
}

export const EXACT: Tolerance = { rtol: 0, atol: 0, why: 'integer result or a copy: bit-exact' };

/*
 * Bounds for f32 storage against the f32 reference (runtime/reference.ts rounds where an f32 kernel rounds and
 * accumulates in f64). A kernel's error is its accumulation order plus its transcendental builtins: WGSL allows
 * exp/tanh a few ulps, and sin/cos 2^-11 absolute on [-π, π] (more outside, which timestep embeddings reach).
 */
const BY_OP: Partial<Record<Op, Tolerance>> = {
  dequantize: { rtol: 0, atol: 0, why: 'one f32 product, as the reference rounds it' },
  token_scale: { rtol: 1e-6, atol: 0, why: 'exact max, one f32 quotient (a norm prologue adds its sums\' rounding)' },
  qgemm: { rtol: 2e-5, atol: 2e-6, why: 'exact i32 sum, then f32 roundings of scales, bias, GELU, gate, residual' },
  linear: { rtol: 1e-4, atol: 1e-5, why: 'f32 dot products in another order than the f64 reference' },
  matmul: { rtol: 1e-4, atol: 1e-5, why: 'f32 dot products in another order than the f64 reference' },
  attention: { rtol: 1e-4, atol: 1e-5, why: 'online softmax and f32 dot products, exp within a few ulps' },
  attention_colsum: { rtol: 1e-4, atol: 1e-5, why: 'softmax column sums in f32' },
  layernorm: { rtol: 1e-4, atol: 1e-5, why: 'f32 mean and variance over the row' },
  rmsnorm: { rtol: 1e-4, atol: 1e-5, why: 'f32 mean square over the row' },
  softmax: { rtol: 1e-4, atol: 1e-6, why: 'f32 max/sum over the row, exp within a few ulps' },
  reduce_sum: { rtol: 1e-4, atol: 1e-5, why: 'f32 sums in another order' },
  reduce_mean: { rtol: 1e-4, atol: 1e-5, why: 'f32 sums in another order' },
  reduce_max: EXACT,
  timestep_embedding: { rtol: 0, atol: 2 ** -11, why: 'WGSL sin/cos: 2^-11 absolute' },
  rope3d: { rtol: 0, atol: 2 ** -11, why: 'WGSL sin/cos: 2^-11 absolute, times |x| ≤ 1' },
  // atol: half an ulp of the O(1) product, which an FMA skips and which may cancel against the shift
  modulate: { rtol: 1e-6, atol: 1e-6, why: 'one multiply-add in f32 (a fused FMA rounds once less)' },
  gate: { rtol: 1e-6, atol: 0, why: 'one f32 product' },
  schedule_value: { rtol: 0, atol: 0, why: 'one of its f32 values, the range picked by f32-rounded bounds: exact' },
};

/** f16 unit roundoff: one f32 → f16 rounding to nearest is off by at most this much, relatively. */
export const F16_UNIT_ROUNDOFF = 2 ** -11;

/**
 * The tensor-core attention kernels (targets/cuda/kernels/attention-mma.ts) round q, k, v and the probabilities P
 * to f16 and accumulate in f32. For operands |x| ≤ 1 (kernelOperands' signed draw) and u = 2^-11: rounding q and k
 * moves a score by at most 2u·|scale|·D; the output is a softmax mean of v rows, ∂o/∂s_j = w_j(v_j − o), so it
 * moves by at most that times Σ w_j|v_j − o| ≤ 1; rounding v and P adds u each. First order u·(2 + 2|scale|·D),
 * ×1.1 for the second-order terms (e^δ − 1 ≤ 1.1δ for δ ≤ 0.2), on top of the f32 kernel's bound.
 */
export function f16AttentionTolerance(n: Node): Tolerance {
  const D = n.src[0]!.type.shape.at(-1)!;
  const scale = Math.abs(Number(n.attrs['scale']));
  const f32 = BY_OP.attention!;
  const atol = 1.1 * F16_UNIT_ROUNDOFF * (2 + 2 * scale * D) + f32.atol;
  const why = 'f16 q, k, v, P with f32 accumulation: 1.1·2^-11·(2 + 2|scale|·D) for |x| ≤ 1';
  return { rtol: f32.rtol, atol, why };
}

const COPIES = new Set<Op>(['permute', 'transpose', 'concat', 'slice', 'gather', 'reshape', 'const']);
const ELEMENTWISE: Tolerance = { rtol: 1e-5, atol: 1e-6, why: 'elementwise f32, transcendentals within a few ulps' };

/** The bound `vdit compare` holds node's kernel to: integer results and copies exact, else by op. */
export function toleranceFor(n: Node): Tolerance {
  if (!isFloat(n.type.dtype) || COPIES.has(n.op)) return EXACT;
  return BY_OP[n.op] ?? (isElementwise(n.op) ? ELEMENTWISE : { rtol: 1e-4, atol: 1e-5, why: 'f32 default' });
}
