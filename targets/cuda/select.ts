import { BINARY_OPS, UNARY_OPS, type Op } from '../../ir/ops.ts';
import type { Node } from '../../ir/node.ts';
import type { LowerContext } from '../target.ts';
import type { CudaKernel } from './kernel.ts';
import { lowerCudaAttention } from './kernels/attention.ts';
import { lowerCudaAttentionMma, useMmaAttention } from './kernels/attention-mma.ts';
import { lowerCudaSparseAttention } from './kernels/attention-sparse.ts';
import { lowerCudaElementwise, lowerCudaFill } from './kernels/elementwise.ts';
import { lowerCudaLinear, lowerCudaMatmul } from './kernels/gemm.ts';
import { lowerCudaNorm, lowerCudaSoftmax } from './kernels/norm.ts';
import { lowerCudaQgemmFp8 } from './kernels/qgemm-fp8.ts';
import { lowerCudaQgemmMma } from './kernels/qgemm-mma.ts';
import { lowerCudaDequantize, lowerCudaQuantize, lowerCudaTokenScale } from './kernels/quantize.ts';
import { lowerCudaReduce } from './kernels/reduce.ts';
import {
  lowerCudaConcat, lowerCudaGather, lowerCudaPermute, lowerCudaSlice, lowerCudaTranspose,
} from './kernels/shape.ts';
import { lowerCudaTileSelect } from './kernels/tile-select.ts';
import {
  lowerCudaAdaLN, lowerCudaRope3d, lowerCudaScheduleValue, lowerCudaTimestepEmbedding,
} from './kernels/vdit.ts';

type CudaLowering = (n: Node, ctx: LowerContext) => CudaKernel;

/** Ops that need no kernel: buffers (input, param) and views that alias their source (reshape). */
export const CUDA_NO_KERNEL: ReadonlySet<Op> = new Set<Op>(['input', 'param', 'reshape']);

/** op → CUDA kernel generator (one variant each in this slice; the WGSL select.ts holds the variant rules). */
const CUDA_KERNELS: Partial<Record<Op, CudaLowering>> = {
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, lowerCudaElementwise])),
  ...Object.fromEntries(BINARY_OPS.map((op) => [op, lowerCudaElementwise])),
  where: lowerCudaElementwise,
  fused: lowerCudaElementwise,
  const: lowerCudaFill,
  reduce_sum: lowerCudaReduce,
  reduce_mean: lowerCudaReduce,
  reduce_max: lowerCudaReduce,
  layernorm: lowerCudaNorm,
  rmsnorm: lowerCudaNorm,
  softmax: lowerCudaSoftmax,
  linear: lowerCudaLinear,
  matmul: lowerCudaMatmul,
  // f16 tensor cores where the shape fits (ctx.variant { attention: 'f32' } keeps the f32 kernel), else f32
  attention: (n, ctx) => (useMmaAttention(n, ctx) ? lowerCudaAttentionMma(n, ctx) : lowerCudaAttention(n, ctx)),
  sparse_attention: (n, ctx) =>
    (useMmaAttention(n, ctx) ? lowerCudaAttentionMma(n, ctx) : lowerCudaSparseAttention(n, ctx)),
  tile_select: lowerCudaTileSelect,
  permute: lowerCudaPermute,
  transpose: lowerCudaTranspose,
  concat: lowerCudaConcat,
  slice: lowerCudaSlice,
  gather: lowerCudaGather,
  timestep_embedding: lowerCudaTimestepEmbedding,
  modulate: lowerCudaAdaLN,
  gate: lowerCudaAdaLN,
  rope3d: lowerCudaRope3d,
  schedule_value: lowerCudaScheduleValue,
  token_scale: lowerCudaTokenScale,
  quantize: lowerCudaQuantize,
  dequantize: lowerCudaDequantize,
  // e4m3 activations (W4A8-FP8) on FP8 tensor cores, integer ones on INT8 tensor cores
  qgemm: (n, ctx) => (n.attrs['aformat'] === 'e4m3' ? lowerCudaQgemmFp8(n, ctx) : lowerCudaQgemmMma(n, ctx)),
};

/** The CUDA kernel for one node; throws `cuda: no kernel for op X` for ops outside this slice (attention_colsum). */
export function lowerCudaNode(n: Node, ctx: LowerContext): CudaKernel {
  const lower = CUDA_KERNELS[n.op];
  if (!lower) throw new Error(`cuda: no kernel for op ${n.op}`);
  return lower(n, ctx);
}
