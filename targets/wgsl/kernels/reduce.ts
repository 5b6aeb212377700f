import { attr, type Node } from '../../../ir/node.ts';
import { normAxis, numel, strides } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel, literal } from '../render.ts';
import { castValue } from '../render-expr.ts';
import { tensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';
import { workgroupReduceFn } from './workgroup-reduce.ts';

/** Invocations cooperating on one output when the reduced extent is long. */
export const REDUCE_WORKGROUP = 256;
/** Below this many reduced elements per output, one invocation loops over them alone. */
export const REDUCE_COOPERATIVE_MIN = 128;
const SERIAL_WORKGROUP = 64;

/** reduce_sum / reduce_mean / reduce_max; accumulates in f32 (i32 for integer tensors). */
export function lowerReduce(n: Node, ctx: LowerContext): KernelSpec {
  const xt = n.src[0]!.type;
  const s = xt.shape;
  const axes = new Set(attr<readonly number[]>(n, 'axes').map((a) => normAxis(a, s.length)!));
  const st = strides(s);
  const keptDims = s.map((_, i) => i).filter((i) => !axes.has(i));
  const redDims = s.map((_, i) => i).filter((i) => axes.has(i));
  const x = tensorVar('x0', xt.dtype, s, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  if (x.value === 'bool') throw new Error(`wgsl: no kernel for op ${n.op} on bool`);
  const acc = x.value;
  const R = numel(redDims.map((i) => s[i]!));
  const base = x.viewOffset('kept', keptDims.map((i) => s[i]!), keptDims.map((i) => st[i]!), 'o');
  const red = x.viewOffset('red', redDims.map((i) => s[i]!), redDims.map((i) => st[i]!), 'r');
  const isMax = n.op === 'reduce_max';
  const lowest = acc === 'f32' ? literal(-Infinity, 'f32') : acc === 'i32' ? 'i32(-2147483648)' : '0u';
  const init = isMax ? lowest : literal(0, acc);
  const step = (v: string): string => (isMax ? `acc = max(acc, ${v});` : `acc = acc + ${v};`);
  const finish = n.op === 'reduce_mean' ? castValue(`(f32(acc) / ${literal(R, 'f32')})`, 'f32', y.dtype)
    : castValue('acc', acc, y.dtype);
  const coop = R >= REDUCE_COOPERATIVE_MIN;
  const wg = coop ? REDUCE_WORKGROUP : SERIAL_WORKGROUP;
  const body = coop
    ? [
      'let o = wg;',
      'let b = ' + base + ';',
      `var acc: ${acc} = ${init};`,
      `for (var r = lidx; r < ${R}u; r += ${wg}u) { ${step(x.load(`b + ${red}`))} }`,
      `acc = wg_${isMax ? 'max' : 'sum'}(acc, lidx);`,
      `if (lidx == 0u) { ${y.store('o', finish)} }`,
    ]
    : [
      `let o = wg * ${wg}u + lidx;`,
      `if (o >= ${y.numel}u) { return; }`,
      'let b = ' + base + ';',
      `var acc: ${acc} = ${init};`,
      `for (var r = 0u; r < ${R}u; r++) { ${step(x.load(`b + ${red}`))} }`,
      y.store('o', finish),
    ];
  return buildKernel({
    name: coop ? `${n.op}_wg` : n.op,
    hint: `${ctx.elem};${attrHint(n.attrs)}`,
    vars: [x, y],
    workgroup: [wg],
    workgroups: coop ? y.numel : Math.ceil(y.numel / wg),
    prelude: coop ? [workgroupReduceFn(isMax ? 'max' : 'sum', acc, wg)] : [],
    body,
    flops: x.numel,
    bytes: x.numel * bytesOf(x.storage) + y.numel * bytesOf(y.storage),
  });
}
