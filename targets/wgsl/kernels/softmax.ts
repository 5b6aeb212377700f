import { attr, type Node } from '../../../ir/node.ts';
import { normAxis, numel } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel, literal } from '../render.ts';
import { tensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';
import { rowWorkgroup } from './norm.ts';
import { workgroupReduceFn } from './workgroup-reduce.ts';

/** softmax over any axis: one workgroup per row (elements `inner` apart), max then sum in f32, three reads. */
export function lowerSoftmax(n: Node, ctx: LowerContext): KernelSpec {
  const s = n.type.shape;
  const axis = normAxis(attr<number>(n, 'axis', -1), s.length);
  if (axis === undefined) throw new Error('wgsl: softmax axis out of range');
  const [len, inner] = [s[axis]!, numel(s.slice(axis + 1))];
  const x = tensorVar('x0', n.src[0]!.type.dtype, s, ctx.elem);
  const y = tensorVar('y', n.type.dtype, s, ctx.elem);
  const wg = rowWorkgroup(len);
  const at = `base + j * ${inner}u`;
  const loop = (stmt: string): string => `for (var j = lidx; j < ${len}u; j += ${wg}u) { ${stmt} }`;
  const body = [
    `let base = (wg / ${inner}u) * ${len * inner}u + wg % ${inner}u;`,
    `var m = ${literal(-Infinity, 'f32')};`,
    loop(`m = max(m, ${x.load(at)});`),
    'let mx = wg_max(m, lidx);',
    'var s = 0.0;',
    loop(`s += exp(${x.load(at)} - mx);`),
    'let inv = 1.0 / wg_sum(s, lidx);',
    loop(y.store(at, `exp(${x.load(at)} - mx) * inv`)),
  ];
  return buildKernel({
    name: 'softmax',
    hint: `${ctx.elem};${attrHint(n.attrs)}`,
    vars: [x, y],
    workgroup: [wg],
    workgroups: x.numel / len,
    prelude: [workgroupReduceFn('max', 'f32', wg), workgroupReduceFn('sum', 'f32', wg)],
    body,
    flops: 4 * x.numel,
    bytes: 3 * x.numel * bytesOf(x.storage) + y.numel * bytesOf(y.storage),
  });
}
