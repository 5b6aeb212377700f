import { hasPrologue } from '../../../ir/infer.ts';
import { attr, type Node } from '../../../ir/node.ts';
import { tokenScaleDivisor } from '../../../ir/quant.ts';
import { numel } from '../../../ir/types.ts';
import { floatLiteral } from '../../c-style.ts';
import { packedRowWords, type LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel } from '../render.ts';
import { tensorVar } from '../tensor-var.ts';
import { bytesOf, ELEMENTWISE_WORKGROUP } from './elementwise.ts';
import { rowWorkgroup } from './norm.ts';
import { lowerQuantizePrologue, lowerTokenScalePrologue } from './quantize-prologue.ts';
import { workgroupReduceFn } from './workgroup-reduce.ts';

/**
 * The QDQ ops (ir/ops.ts): token_scale, quantize and dequantize. i8 results and operands use the packed storage
 * layout (4 per u32 word, rows padded to whole words with zeros; targets/target.ts storagePacking), i4 operands
 * 8 per word. token_scale / quantize with a producer prologue go to quantize-prologue.ts. Quotients are computed exactly (q_div), so results match the reference bit for bit.
 */

function qmax(n: Node): number {
  const bits = attr<number>(n, 'bits');
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new Error(`wgsl: ${n.op} bits must be in 2..8, got ${bits}`);
  return 2 ** (bits - 1) - 1;
}

/** token_scale's divisor qmax / clip (ir/quant.ts tokenScaleDivisor). */
function divisor(n: Node): number {
  qmax(n);
  return tokenScaleDivisor(attr<number>(n, 'bits'), n.attrs['clip'] as number | undefined);
}

function rowLength(n: Node, shape: readonly number[]): number {
  const k = shape[shape.length - 1];
  if (!k) throw new Error(`wgsl: ${n.op} needs a non-empty last axis, got [${shape.join(',')}]`);
  return k;
}

/**
 * a / b correctly rounded to nearest even, by long division of the 24-bit significands: WGSL's `/` may be 2.5 ulp
 * off and its `fma` need not be fused (lavapipe's is not), so neither reproduces the reference's f32 quotient bit
 * for bit, and one ulp moves x / Δ across a half-integer. Zeros, subnormals, inf and NaN go to the hardware;
 * quotients below the normal range flush to ±0 (quantize rounds them to 0 anyway).
 */
export const QDIV = `fn q_div(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let sign = (ua ^ ub) & 0x80000000u;
  let ea = i32((ua >> 23u) & 0xFFu);
  let eb = i32((ub >> 23u) & 0xFFu);
  if (ea == 0 || eb == 0 || ea == 255 || eb == 255) { return a / b; }
  var ma = (ua & 0x7FFFFFu) | 0x800000u;
  let mb = (ub & 0x7FFFFFu) | 0x800000u;
  var e = ea - eb;
  if (ma < mb) { ma <<= 1u; e -= 1; }
  var rem = ma;
  var q = 0u;
  for (var i = 0u; i < 25u; i++) {
    q <<= 1u;
    if (rem >= mb) { rem -= mb; q |= 1u; }
    rem <<= 1u;
  }
  // q holds 24 significand bits and a guard bit; a non-zero remainder is the sticky bit
  var m = q >> 1u;
  if ((q & 1u) != 0u && (rem != 0u || (m & 1u) != 0u)) { m += 1u; }
  if (m == 0x1000000u) { m >>= 1u; e += 1; }
  let be = e + 127;
  if (be <= 0) { return bitcast<f32>(sign); }
  if (be >= 255) { return bitcast<f32>(sign | 0x7F800000u); }
  return bitcast<f32>(sign | (u32(be) << 23u) | (m & 0x7FFFFFu));
}`;

/**
 * clamp(round_half_even(f32(v / d))), NaN → 0, exactly like runtime/reference-qdq.ts (WGSL `round` is
 * half-to-even). NaN is tested on the bits: compilers may fold a float self-comparison away.
 */
export const QUANT = `fn q_round(v: f32, d: f32, lo: f32, hi: f32) -> i32 {
  if ((bitcast<u32>(v) & 0x7FFFFFFFu) > 0x7F800000u) { return 0; }
  return i32(clamp(round(q_div(v, d)), lo, hi));
}`;

/** token_scale{bits}(x[..., K]) → [..., 1]: one workgroup per row, max |x| through a workgroup reduction. */
export function lowerTokenScale(n: Node, ctx: LowerContext): KernelSpec {
  if (hasPrologue(n.attrs)) return lowerTokenScalePrologue(n, ctx);
  const xt = n.src[0]!.type;
  const k = rowLength(n, xt.shape);
  const x = tensorVar('x0', xt.dtype, xt.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const wg = rowWorkgroup(k);
  return buildKernel({
    name: 'token_scale',
    hint: `${ctx.elem};q${divisor(n)}`,
    vars: [x, y],
    workgroup: [wg],
    workgroups: x.numel / k,
    prelude: [workgroupReduceFn('max', 'f32', wg), QDIV],
    body: [
      `let base = wg * ${k}u;`,
      'var m = 0.0;',
      `for (var d = lidx; d < ${k}u; d += ${wg}u) { m = max(m, abs(${x.load('base + d')})); }`,
      'let mx = wg_max(m, lidx);',
      `if (lidx == 0u) { ${y.store('wg', `select(q_div(mx, ${floatLiteral(divisor(n))}), 1.0, mx == 0.0)`)} }`,
    ],
    flops: 2 * x.numel,
    bytes: x.numel * bytesOf(x.storage) + y.numel * bytesOf(y.storage),
  });
}

/** quantize{bits}(x[..., K], Δ) → packed i8: one invocation per storage word (4 elements of one row). */
export function lowerQuantize(n: Node, ctx: LowerContext): KernelSpec {
  if (hasPrologue(n.attrs)) return lowerQuantizePrologue(n, ctx);
  const [xt, dt] = [n.src[0]!.type, n.src[1]!.type];
  const k = rowLength(n, xt.shape);
  const kw = packedRowWords('i8', k);
  const words = (numel(xt.shape) / k) * kw;
  const q = qmax(n);
  const x = tensorVar('x0', xt.dtype, xt.shape, ctx.elem);
  const d = tensorVar('x1', dt.dtype, dt.shape, ctx.elem);
  const y = tensorVar('y', 'u32', [words], ctx.elem);
  const wg = ELEMENTWISE_WORKGROUP;
  return buildKernel({
    name: 'quantize',
    hint: `${ctx.elem};q${q};k${k}`,
    vars: [x, d, y],
    workgroup: [wg],
    workgroups: Math.ceil(words / wg),
    prelude: [QDIV, QUANT],
    body: [
      `let o = wg * ${wg}u + lidx;`,
      `if (o >= ${words}u) { return; }`,
      `let row = o / ${kw}u; let k0 = (o % ${kw}u) * 4u;`,
      'var packed = 0u;',
      'for (var b = 0u; b < 4u; b++) {',
      `  if (k0 + b < ${k}u) {`,
      `    let i = row * ${k}u + k0 + b;`,
      `    let v = q_round(${x.load('i')}, ${d.load(d.broadcastOffset(xt.shape, 'i'))}, ${-q - 1}.0, ${q}.0);`,
      '    packed |= (bitcast<u32>(v) & 0xFFu) << (8u * b);',
      '  }',
      '}',
      y.store('o', 'packed'),
    ],
    flops: 4 * x.numel,
    bytes: x.numel * bytesOf(x.storage) + words * 4,
  });
}

/** The integer at element `i` (row-major over `shape`) of a q operand, by storage layout. */
function loadQ(dtype: string, name: string, k: number, i: string): string {
  if (dtype === 'i32') return `${name}[${i}]`;
  const [per, bits] = dtype === 'i8' ? [4, 8] : [8, 4];
  const rw = packedRowWords(dtype, k);
  const word = `${name}[(${i}) / ${k}u * ${rw}u + (${i}) % ${k}u / ${per}u]`;
  return `extractBits(bitcast<i32>(${word}), ((${i}) % ${k}u % ${per}u) * ${bits}u, ${bits}u)`;
}

/** dequantize(q, Δ) = f32(q) · Δ with q i8 (packed), i4 (packed) or i32; one invocation per element. */
export function lowerDequantize(n: Node, ctx: LowerContext): KernelSpec {
  const [qt, dt] = [n.src[0]!.type, n.src[1]!.type];
  if (qt.dtype !== 'i8' && qt.dtype !== 'i4' && qt.dtype !== 'i32') {
    throw new Error(`wgsl: dequantize expects i8, i4 or i32 values, got ${qt.dtype}`);
  }
  const k = rowLength(n, qt.shape);
  const total = numel(qt.shape);
  const stored = qt.dtype === 'i32' ? qt.shape : [total / k, packedRowWords(qt.dtype, k)];
  const qv = tensorVar('x0', qt.dtype === 'i32' ? 'i32' : 'u32', stored, ctx.elem);
  const d = tensorVar('x1', dt.dtype, dt.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const wg = ELEMENTWISE_WORKGROUP;
  return buildKernel({
    name: 'dequantize',
    hint: `${ctx.elem};${qt.dtype};k${k}`,
    vars: [qv, d, y],
    workgroup: [wg],
    workgroups: Math.ceil(total / wg),
    body: [
      `let i = wg * ${wg}u + lidx;`,
      `if (i >= ${total}u) { return; }`,
      y.store('i', `f32(${loadQ(qt.dtype, qv.name, k, 'i')}) * ${d.load(d.broadcastOffset(qt.shape, 'i'))}`),
    ],
    flops: total,
    bytes: qv.numel * 4 + total * bytesOf(y.storage),
  });
}
