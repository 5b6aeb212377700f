import { parseExpr } from '../../../ir/expr-text.ts';
import { attr, type Node } from '../../../ir/node.ts';
import { prologueOperands } from '../../../ir/prologue.ts';
import { floatLiteral } from '../../c-style.ts';
import { packedRowWords, type LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel, literal, opHelpers } from '../render.ts';
import { renderExpr } from '../render-expr.ts';
import { tensorVar, type TensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';
import { rowWorkgroup } from './norm.ts';
import { divisor, QDIV, quantCall, quantHelpers, quantHint } from './quantize.ts';
import { workgroupReduceFn } from './workgroup-reduce.ts';

/*
 * token_scale and quantize with a producer prologue (ir/prologue.ts, passes/quant-prologue.ts): one workgroup per
 * token row evaluates the chain norm? → modulate? → expr? from the chain input h in registers (norm statistics by
 * workgroup reduction, as norm.ts), so the f32 activation is never stored. token_scale reduces the row's max |v|
 * to Δ; quantize re-evaluates v and writes the packed i8 words. A kernel writes one result, hence two dispatches.
 * The chain runs in f32 like the unfused norm.ts / vdit.ts kernels (the CPU reference keeps the norm statistics in
 * f64, so v agrees to a few ulps, as between the unfused kernels and the reference).
 */

interface RowChain {
  readonly vars: TensorVar[];
  /** statements before the row loop (workgroup-uniform: they reduce over the row) */
  readonly stats: string[];
  /** statements binding `v`, the chain's value at column `d` of row `wg` */
  readonly value: string[];
  readonly helpers: string[];
  readonly k: number;
}

function normStats(n: Node, x: TensorVar, k: number, wg: number): string[] {
  const norm = n.attrs['norm'];
  if (norm === undefined) return [];
  const loop = (stmt: string): string => `for (var d = lidx; d < ${k}u; d += ${wg}u) { ${stmt} }`;
  const xd = x.load('base + d');
  const mean = norm === 'rmsnorm'
    ? ['let mean = 0.0;']
    : ['var s = 0.0;', loop(`s += ${xd};`), `let mean = wg_sum(s, lidx) / ${literal(k, 'f32')};`];
  const eps = literal(attr<number>(n, 'eps'), 'f32');
  return [...mean, 'var ss = 0.0;', loop(`let t = ${xd} - mean; ss += t * t;`),
    `let inv = 1.0 / sqrt(wg_sum(ss, lidx) / ${literal(k, 'f32')} + ${eps});`];
}

function rowChain(n: Node, ctx: LowerContext, wg: number): RowChain {
  const o = prologueOperands(n);
  const shape = o.x.type.shape;
  const k = shape[shape.length - 1]!;
  let i = 0;
  const bind = (m: Node): TensorVar => tensorVar(`x${i++}`, m.type.dtype, m.type.shape, ctx.elem);
  const x = bind(o.x);
  const affine = o.affine.map(bind);
  const [shift, scale] = o.shift && o.scale ? [bind(o.shift), bind(o.scale)] : [];
  const extras = o.extras.map(bind);
  const value = [`var v = ${x.load('base + d')};`];
  if (n.attrs['norm'] !== undefined) {
    const [w, b] = affine;
    value.push(`v = (v - mean) * inv${w ? ` * ${w.load('d')}` : ''}${b ? ` + ${b.load('d')}` : ''};`);
  }
  if (shift && scale) {
    const c = `wg / ${shape[1]}u * ${k}u + d`;
    value.push(`v = v * (1.0 + ${scale.load(c)}) + ${shift.load(c)};`);
  }
  const helpers: string[] = [];
  if (typeof n.attrs['expr'] === 'string') {
    const e = renderExpr(parseExpr(n.attrs['expr']), [{ name: 'v', type: 'f32' },
      ...extras.map((t, j) => ({ name: `e${j + 1}`, type: t.value }))]);
    value.push(...extras.map((t, j) => `let e${j + 1} = ${t.load(t.broadcastOffset(shape, 'base + d'))};`));
    value.push(...e.lines, `v = ${e.value};`);
    helpers.push(...opHelpers(e.ops));
  }
  return { vars: [x, ...affine, ...(shift && scale ? [shift, scale] : []), ...extras], stats: normStats(n, x, k, wg),
    value, helpers, k };
}

function chainBytes(vars: readonly TensorVar[]): number {
  return vars.reduce((s, v) => s + v.numel * bytesOf(v.storage), 0);
}

/** token_scale{bits, chain}: Δ = max |v| / qmax per row (1 for an all-zero row), v never stored. */
export function lowerTokenScalePrologue(n: Node, ctx: LowerContext): KernelSpec {
  const k0 = n.src[0]!.type.shape.at(-1)!;
  const wg = rowWorkgroup(k0);
  const c = rowChain(n, ctx, wg);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const q = floatLiteral(divisor(n));
  return buildKernel({
    name: 'token_scale_chain',
    hint: `${ctx.elem};q${q};${attrHint(n.attrs)}`,
    vars: [...c.vars, y],
    workgroup: [wg],
    workgroups: y.numel,
    prelude: [workgroupReduceFn('sum', 'f32', wg), workgroupReduceFn('max', 'f32', wg), QDIV, ...c.helpers],
    body: [
      `let base = wg * ${c.k}u;`,
      ...c.stats,
      'var m = 0.0;',
      `for (var d = lidx; d < ${c.k}u; d += ${wg}u) {`,
      ...c.value.map((l) => `  ${l}`),
      '  m = max(m, abs(v));',
      '}',
      'let mx = wg_max(m, lidx);',
      `if (lidx == 0u) { ${y.store('wg', `select(q_div(mx, ${q}), 1.0, mx == 0.0)`)} }`,
    ],
    flops: 10 * y.numel * c.k,
    bytes: chainBytes(c.vars) + y.numel * 4,
  });
}

/** quantize{bits, chain}(…, Δ): the row's packed i8 words from v recomputed in registers. */
export function lowerQuantizePrologue(n: Node, ctx: LowerContext): KernelSpec {
  const k0 = n.src[0]!.type.shape.at(-1)!;
  const wg = rowWorkgroup(packedRowWords('i8', k0) * 4);
  const c = rowChain(n, ctx, wg);
  const dt = n.src[n.src.length - 1]!.type;
  const d = tensorVar(`x${c.vars.length}`, dt.dtype, dt.shape, ctx.elem);
  const kw = packedRowWords('i8', c.k);
  const rows = n.type.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const y = tensorVar('y', 'u32', [rows * kw], ctx.elem);
  return buildKernel({
    name: 'quantize_chain',
    hint: `${ctx.elem};${quantHint(n)};${attrHint(n.attrs)}`,
    vars: [...c.vars, d, y],
    workgroup: [wg],
    workgroups: rows,
    prelude: [workgroupReduceFn('sum', 'f32', wg), ...quantHelpers(n), ...c.helpers],
    body: [
      `let base = wg * ${c.k}u;`,
      ...c.stats,
      `for (var o = lidx; o < ${kw}u; o += ${wg}u) {`,
      '  var packed = 0u;',
      '  for (var b = 0u; b < 4u; b++) {',
      '    let d = o * 4u + b;',
      `    if (d < ${c.k}u) {`,
      ...c.value.map((l) => `      ${l}`),
      `      let qv = ${quantCall(n, 'v', d.load(d.broadcastOffset(n.type.shape, 'base + d')))};`,
      '      packed |= (bitcast<u32>(qv) & 0xFFu) << (8u * b);',
      '    }',
      '  }',
      `  ${y.store(`wg * ${kw}u + o`, 'packed')}`,
      '}',
    ],
    flops: 12 * rows * c.k,
    bytes: chainBytes(c.vars) + rows * kw * 4,
  });
}
