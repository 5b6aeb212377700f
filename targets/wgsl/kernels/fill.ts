import type { Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel, literal } from '../render.ts';
import { castValue } from '../render-expr.ts';
import { tensorVar } from '../tensor-var.ts';
import { bytesOf, ELEMENTWISE_WORKGROUP } from './elementwise.ts';

/** const{value}: every element equals `value` (the runtime usually uploads consts; this serves fused schedules). */
export function lowerFill(n: Node, ctx: LowerContext): KernelSpec {
  const raw = n.attrs['value'];
  const value = typeof raw === 'boolean' ? Number(raw) : raw;
  if (typeof value !== 'number') throw new Error('wgsl: const needs a numeric attribute value');
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const wg = ELEMENTWISE_WORKGROUP;
  return buildKernel({
    name: 'fill',
    hint: `${ctx.elem};${attrHint(n.attrs)}`,
    vars: [y],
    workgroup: [wg],
    workgroups: Math.ceil(y.numel / wg),
    body: [
      `let i = wg * ${wg}u + lidx;`,
      `if (i >= ${y.numel}u) { return; }`,
      y.store('i', castValue(literal(value, 'f32'), 'f32', y.dtype)),
    ],
    flops: 0,
    bytes: y.numel * bytesOf(y.storage),
  });
}
