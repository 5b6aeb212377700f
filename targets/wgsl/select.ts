import { BINARY_OPS, UNARY_OPS, type Op } from '../../ir/ops.ts';
import type { Node } from '../../ir/node.ts';
import type { LowerContext } from '../target.ts';
import type { KernelSpec } from './kernel.ts';
import { lowerAttention } from './kernels/attention.ts';
import { lowerElementwise } from './kernels/elementwise.ts';
import { lowerFill } from './kernels/fill.ts';
import { lowerLinear, lowerMatmul } from './kernels/gemm.ts';
import { lowerNorm } from './kernels/norm.ts';
import { lowerReduce } from './kernels/reduce.ts';
import { lowerConcat, lowerGather, lowerPermute, lowerSlice, lowerTranspose } from './kernels/shape.ts';
import { lowerSoftmax } from './kernels/softmax.ts';
import { lowerAdaLN, lowerRope3d, lowerTimestepEmbedding } from './kernels/vdit.ts';

type Lowering = (n: Node, ctx: LowerContext) => KernelSpec;

/** op → kernel generator; input/param are buffers and reshapes alias their source, so none is here. */
const KERNELS: Partial<Record<Op, Lowering>> = {
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, lowerElementwise])),
  ...Object.fromEntries(BINARY_OPS.map((op) => [op, lowerElementwise])),
  where: lowerElementwise,
  fused: lowerElementwise,
  reduce_sum: lowerReduce,
  reduce_mean: lowerReduce,
  reduce_max: lowerReduce,
  matmul: lowerMatmul,
  linear: lowerLinear,
  layernorm: lowerNorm,
  rmsnorm: lowerNorm,
  softmax: lowerSoftmax,
  permute: lowerPermute,
  transpose: lowerTranspose,
  concat: lowerConcat,
  slice: lowerSlice,
  gather: lowerGather,
  attention: lowerAttention,
  timestep_embedding: lowerTimestepEmbedding,
  modulate: lowerAdaLN,
  gate: lowerAdaLN,
  rope3d: lowerRope3d,
  const: lowerFill,
};

/** The kernel for one node on this device; throws `wgsl: no kernel for op X` or `wgsl: ... needs shader-f16`. */
export function lowerNode(n: Node, ctx: LowerContext): KernelSpec {
  const lower = KERNELS[n.op];
  if (!lower) throw new Error(`wgsl: no kernel for op ${n.op}`);
  const spec = lower(n, ctx);
  if (spec.features.includes('shader-f16') && !ctx.caps.features.has('shader-f16') && !ctx.caps.hasF16) {
    throw new Error(`wgsl: ${n.op} with f16 storage needs shader-f16, which the device lacks`);
  }
  return spec;
}
