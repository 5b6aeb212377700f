import { nodeExpr } from '../../../ir/expr-text.ts';
import type { Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel, opHelpers } from '../render.ts';
import { renderExpr, storeValue } from '../render-expr.ts';
import { tensorVar } from '../tensor-var.ts';

/** One output element per invocation; elementwise kernels are memory-bound, so this stays simple. */
export const ELEMENTWISE_WORKGROUP = 256;

/** Unary, binary, where, cast and fused nodes: one kernel, inputs broadcast to the result shape. */
export function lowerElementwise(n: Node, ctx: LowerContext): KernelSpec {
  const out = n.type.shape;
  const xs = n.src.map((s, i) => tensorVar(`x${i}`, s.type.dtype, s.type.shape, ctx.elem));
  const y = tensorVar('y', n.type.dtype, out, ctx.elem);
  const expr = renderExpr(
    nodeExpr(n),
    xs.map((x, i) => ({ name: `v${i}`, type: x.value })),
  );
  const loads = xs.map((x, i) => `let v${i} = ${x.load(x.broadcastOffset(out, 'i'))};`);
  const wg = ELEMENTWISE_WORKGROUP;
  return buildKernel({
    name: n.op === 'fused' ? 'fused' : `ew_${n.op}`,
    hint: `${ctx.elem};${n.op === 'fused' ? String(n.attrs['expr']) : JSON.stringify(n.attrs)}`,
    vars: [...xs, y],
    workgroup: [wg],
    workgroups: Math.ceil(y.numel / wg),
    prelude: opHelpers(expr.ops),
    body: [
      `let i = wg * ${wg}u + lidx;`,
      `if (i >= ${y.numel}u) { return; }`,
      ...loads,
      ...expr.lines,
      y.store('i', storeValue(expr.value, expr.type, y.dtype)),
    ],
    flops: y.numel * Math.max(1, expr.ops.size),
    bytes: [...xs, y].reduce((a, v) => a + v.numel * bytesOf(v.storage), 0),
  });
}

export function bytesOf(storage: string): number {
  return storage === 'f16' ? 2 : 4;
}
