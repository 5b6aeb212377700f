import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel, literal } from '../render.ts';
import { tensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';
import { workgroupReduceFn } from './workgroup-reduce.ts';

/** Largest workgroup for one row; short rows get the next power of two at or above their length (min 32). */
export const ROW_WORKGROUP_MAX = 256;
const ROW_WORKGROUP_MIN = 32;

export function rowWorkgroup(len: number): number {
  let w = ROW_WORKGROUP_MIN;
  while (w < len && w < ROW_WORKGROUP_MAX) w *= 2;
  return w;
}

/** layernorm / rmsnorm over the last axis: one workgroup per row, two-pass statistics in f32. */
export function lowerNorm(n: Node, ctx: LowerContext): KernelSpec {
  const shape = n.type.shape;
  const D = shape[shape.length - 1]!;
  const rms = n.op === 'rmsnorm';
  const eps = attr<number>(n, 'eps');
  const x = tensorVar('x0', n.src[0]!.type.dtype, shape, ctx.elem);
  const params = n.src.slice(1).map((s, i) => tensorVar(`x${i + 1}`, s.type.dtype, s.type.shape, ctx.elem));
  const [w, b] = params;
  const y = tensorVar('y', n.type.dtype, shape, ctx.elem);
  const wg = rowWorkgroup(D);
  const loop = (stmt: string): string => `for (var d = lidx; d < ${D}u; d += ${wg}u) { ${stmt} }`;
  const xd = x.load('base + d');
  let out = '(v - mean) * inv';
  if (w) out = `${out} * ${w.load('d')}`;
  if (b) out = `${out} + ${b.load('d')}`;
  const body = [
    `let base = wg * ${D}u;`,
    'var s = 0.0;',
    ...(rms ? ['let mean = 0.0;'] : [loop(`s += ${xd};`), `let mean = wg_sum(s, lidx) / ${literal(D, 'f32')};`]),
    'var q = 0.0;',
    loop(`let t = ${xd} - mean; q += t * t;`),
    `let inv = 1.0 / sqrt(wg_sum(q, lidx) / ${literal(D, 'f32')} + ${literal(eps, 'f32')});`,
    loop(`let v = ${xd}; ${y.store('base + d', out)}`),
  ];
  return buildKernel({
    name: n.op,
    hint: `${ctx.elem};${attrHint(n.attrs)};${params.length}`,
    vars: [x, ...params, y],
    workgroup: [wg],
    workgroups: x.numel / D,
    prelude: [workgroupReduceFn('sum', 'f32', wg)],
    body,
    flops: x.numel * (rms ? 4 : 7),
    bytes: (3 - (rms ? 1 : 0)) * x.numel * bytesOf(x.storage) + y.numel * bytesOf(y.storage),
  });
}
