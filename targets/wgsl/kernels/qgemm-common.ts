import type { Node } from '../../../ir/node.ts';
import { numel, type TensorType } from '../../../ir/types.ts';
import { opHelpers, WGSL_OPS } from '../render.ts';
import { packedRowWords, type LowerContext } from '../../target.ts';
import { tensorVar, type TensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';

/**
 * What every qgemm kernel shares: the operands of qgemm(xq: i8[..., K], Δx[..., 1], wq: i4|i8[N, K], Δw[N, 1],
 * b?[N], g?[B, N], r?[..., N]) bound in that order, the packed operands seen as rows of u32 words (targets/target.ts storagePacking),
 * the i4 → i8 widening and the epilogue. All leading dims of x are rows, as in linear.
 */
export interface QgemmProblem {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** i8 words (4 k each) per row of x; also the k-groups of 4 a kernel walks */
  readonly kw: number;
  /** storage words per row of w: kw for i8 weights, ceil(K / 8) for i4 */
  readonly ww: number;
  readonly wDtype: 'i4' | 'i8';
  readonly x: TensorVar;
  readonly sx: TensorVar;
  readonly w: TensorVar;
  readonly sw: TensorVar;
  readonly bias?: TensorVar;
  /** the epilogue after the bias (ir/ops.ts): act, then · gate[b, n], then residual + */
  readonly act: 'none' | 'gelu_tanh' | 'gelu_erf';
  readonly gate?: TensorVar;
  readonly residual?: TensorVar;
  /** tokens per sample: rows gm of one gate row are gm / tokens */
  readonly tokens: number;
  readonly y: TensorVar;
}

/** A packed operand as u32 words `[rows, words]`: kernels index words, never elements. */
function wordsVar(name: string, dtype: string, shape: readonly number[], elem: 'f32' | 'f16'): TensorVar {
  const inner = shape[shape.length - 1] ?? 1;
  const rows = inner ? numel(shape) / inner : 0;
  return tensorVar(name, 'u32', [rows, packedRowWords(dtype, inner)], elem);
}

/** Operand types by role: x, Δx, w, Δw, then b?, g (gate), r (residual) as the attrs say (ir/ops.ts). */
function operandRoles(n: Node): { bias?: TensorType; gate?: TensorType; residual?: TensorType } {
  const [gate, residual] = [n.attrs['gate'] === true, n.attrs['residual'] === true];
  const extra = n.src.slice(4).map((s) => s.type);
  const nb = extra.length - Number(gate) - Number(residual);
  if (nb < 0 || nb > 1) throw new Error(`wgsl: qgemm has ${n.src.length} operands for its epilogue attrs`);
  return {
    ...(nb ? { bias: extra[0]! } : {}),
    ...(gate ? { gate: extra[nb]! } : {}),
    ...(residual ? { residual: extra[extra.length - 1]! } : {}),
  };
}

export function qgemmProblem(n: Node, ctx: LowerContext): QgemmProblem {
  const [xt, sxt, wt, swt] = n.src.map((s) => s.type);
  if (!xt || !sxt || !wt || !swt) throw new Error('wgsl: qgemm needs xq, Δx, wq, Δw');
  if (xt.dtype !== 'i8') throw new Error(`wgsl: qgemm activations must be i8, got ${xt.dtype}`);
  if (wt.dtype !== 'i4' && wt.dtype !== 'i8') throw new Error(`wgsl: qgemm weights must be i4 or i8, got ${wt.dtype}`);
  const k = xt.shape[xt.shape.length - 1]!;
  const nn = wt.shape[0]!;
  const roles = operandRoles(n);
  const act = (n.attrs['act'] as QgemmProblem['act'] | undefined) ?? 'none';
  let at = 4;
  const next = (t: TensorType): TensorVar => tensorVar(`x${at++}`, t.dtype, t.shape, ctx.elem);
  return {
    m: numel(xt.shape) / Math.max(k, 1),
    n: nn,
    k,
    kw: packedRowWords('i8', k),
    ww: packedRowWords(wt.dtype, k),
    wDtype: wt.dtype,
    x: wordsVar('x0', 'i8', xt.shape, ctx.elem),
    sx: tensorVar('x1', sxt.dtype, sxt.shape, ctx.elem),
    w: wordsVar('x2', wt.dtype, wt.shape, ctx.elem),
    sw: tensorVar('x3', swt.dtype, swt.shape, ctx.elem),
    ...(roles.bias ? { bias: next(roles.bias) } : {}),
    act,
    ...(roles.gate ? { gate: next(roles.gate) } : {}),
    ...(roles.residual ? { residual: next(roles.residual) } : {}),
    tokens: n.type.shape.length === 3 ? n.type.shape[1]! : 1,
    y: tensorVar('y', n.type.dtype, n.type.shape, ctx.elem),
  };
}

export function qgemmVars(p: QgemmProblem): TensorVar[] {
  return [p.x, p.sx, p.w, p.sw, ...[p.bias, p.gate, p.residual].filter((v) => v !== undefined), p.y];
}

/** Cache-key hint shared by the variants: weight dtype and the logical K (the word shapes hide K % 4). */
export function qgemmHint(p: QgemmProblem, ctx: LowerContext, variant: string): string {
  const epi = p.act !== 'none' || p.gate || p.residual ? `;${p.act}${p.gate ? '+g' : ''}${p.residual ? '+r' : ''}` : '';
  return `${ctx.elem};w${p.wDtype};k${p.k};${variant}${epi}`;
}

export function qgemmCost(p: QgemmProblem): { flops: number; bytes: number } {
  const bytes = qgemmVars(p).reduce((s, v) => s + v.numel * bytesOf(v.storage), 0);
  return { flops: 2 * p.m * p.n * p.k, bytes };
}

/**
 * `fn widen_i4(v: u32) -> u32`: nibbles 0..3 of v (k, k+1, k+2, k+3) as four sign-extended i8 lanes of one word,
 * the layout dot4I8Packed and i8 subgroup matrices read. Spreads the nibbles to bytes, then copies bit 3 of each
 * byte into bits 4..7 (0x08 · 0x1E = 0xF0 never carries into the next byte).
 */
export const WIDEN_I4 = `fn widen_i4(v: u32) -> u32 {
  var t = v & 0xFFFFu;
  t = (t | (t << 8u)) & 0x00FF00FFu;
  t = (t | (t << 4u)) & 0x0F0F0F0Fu;
  return t | ((t & 0x08080808u) * 0x1Eu);
}`;

/** The i8 word of k-group `g` (k = 4g..4g+3) of weight row `n`, widened from i4 when the weights are packed i4. */
export function weightWord(p: QgemmProblem, n: string, g: string): string {
  if (p.wDtype === 'i8') return `${p.w.name}[(${n}) * ${p.ww}u + (${g})]`;
  return `widen_i4(${p.w.name}[(${n}) * ${p.ww}u + (${g}) / 2u] >> (16u * ((${g}) % 2u)))`;
}

/** Portable 4×i8 dot product (extractBits sign-extends i32 fields); exact in i32 like dot4I8Packed. */
export const DOT4_I8_SOFT = `fn dot4_i8(a: u32, b: u32) -> i32 {
  let x = bitcast<i32>(a);
  let y = bitcast<i32>(b);
  return extractBits(x, 0u, 8u) * extractBits(y, 0u, 8u) + extractBits(x, 8u, 8u) * extractBits(y, 8u, 8u)
    + extractBits(x, 16u, 8u) * extractBits(y, 16u, 8u) + extractBits(x, 24u, 8u) * extractBits(y, 24u, 8u);
}`;

/** How a kernel multiplies two words of four i8: the DP4A builtin or the portable shift-and-multiply. */
export type QDot = 'dp4a' | 'soft';

export function dotCall(dot: QDot, a: string, b: string): string {
  return dot === 'dp4a' ? `dot4I8Packed(${a}, ${b})` : `dot4_i8(${a}, ${b})`;
}

/** Directives and helpers a module needs for `dot` (dot4I8Packed is a WGSL language feature, not an enable). */
export function dotPrelude(dot: QDot): { directives: string[]; helpers: string[] } {
  return dot === 'dp4a'
    ? { directives: ['requires packed_4x8_integer_dot_product;'], helpers: [] }
    : { directives: [], helpers: [DOT4_I8_SOFT] };
}

/**
 * out[gm, gn] = epilogue(f32(acc) · Δx[gm] · Δw[gn] + b[gn]) as one block statement (callers bounds-check gm and
 * gn); the epilogue is act, then · gate[gm / tokens, gn], then residual[gm, gn] + (ir/ops.ts), in f32.
 */
export function epilogue(p: QgemmProblem, acc: string, gm: string, gn: string): string {
  const bias = p.bias ? ` + ${p.bias.load(gn)}` : '';
  const at = `(${gm}) * ${p.n}u + (${gn})`;
  const lines = [`var e = f32(${acc}) * ${p.sx.load(gm)} * ${p.sw.load(gn)}${bias};`];
  const approx = p.act === 'gelu_tanh' ? 'tanh' : 'none';
  if (p.act !== 'none') lines.push(`e = ${WGSL_OPS['gelu']!(['e'], 'f32', { approx })};`);
  if (p.gate) lines.push(`e = e * ${p.gate.load(`(${gm}) / ${p.tokens}u * ${p.n}u + (${gn})`)};`);
  if (p.residual) lines.push(`e = ${p.residual.load(at)} + e;`);
  return `{ ${lines.join(' ')} ${p.y.store(at, 'e')} }`;
}

/** Helper functions the epilogue calls (erf for the exact GELU). */
export function epilogueHelpers(p: QgemmProblem): string[] {
  return p.act === 'none' ? [] : opHelpers(['gelu']);
}

/** Prepends module-scope directives (requires / enable) to a built kernel's source. */
export function withDirectives(source: string, directives: readonly string[]): string {
  return directives.length ? `${directives.join('\n')}\n${source}` : source;
}
