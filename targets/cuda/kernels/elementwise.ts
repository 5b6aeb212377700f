import type { Node } from '../../../ir/node.ts';
import { attr } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import { nodeExpr } from '../../../ir/expr-text.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaLiteral, cudaStore } from '../render.ts';
import { renderCudaExpr } from '../render-expr.ts';
import { cudaTensor } from '../tensor-var.ts';

/** One output element per thread; elementwise kernels are memory-bound, so this stays simple. */
export const CUDA_ELEMENTWISE_BLOCK = 256;

/** Unary, binary, where, cast and fused nodes: one kernel, inputs broadcast to the result shape. */
export function lowerCudaElementwise(n: Node, ctx: LowerContext): CudaKernel {
  const out = n.type.shape;
  const xs = n.src.map((s, i) => cudaTensor(`x${i}`, s.type.dtype, s.type.shape, ctx.elem));
  const y = cudaTensor('y', n.type.dtype, out, ctx.elem);
  // each operand loaded where the expression first reads it: a where's untaken side reads no memory
  const expr = renderCudaExpr(nodeExpr(n), xs.map((x, i) =>
    ({ name: `v${i}`, type: x.value, load: x.load(x.broadcastOffset(out, 'i')) })));
  const bs = CUDA_ELEMENTWISE_BLOCK;
  return buildCudaKernel({
    name: n.op === 'fused' ? 'fused' : `ew_${n.op}`,
    vars: [...xs, y],
    block: bs,
    blocks: Math.ceil(y.numel / bs),
    body: [
      `const unsigned i = blk * ${bs}u + threadIdx.x;`,
      `if (i >= ${y.numel}u) return;`,
      ...expr.lines,
      y.store('i', cudaStore(expr.value, expr.type, y.dtype)),
    ],
    flops: y.numel * Math.max(1, expr.ops.size),
  });
}

/** const{value}: a fill. */
export function lowerCudaFill(n: Node, ctx: LowerContext): CudaKernel {
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const bs = CUDA_ELEMENTWISE_BLOCK;
  const v = cudaLiteral(attr<number>(n, 'value'), y.value);
  return buildCudaKernel({
    name: 'fill',
    vars: [y],
    block: bs,
    blocks: Math.ceil(y.numel / bs),
    body: [
      `const unsigned i = blk * ${bs}u + threadIdx.x;`,
      `if (i < ${y.numel}u) ${y.store('i', cudaStore(v, y.value, y.dtype))}`,
    ],
  });
}
