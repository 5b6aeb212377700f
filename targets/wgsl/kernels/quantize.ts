import { hasPrologue } from '../../../ir/infer.ts';
import { attr, type Node } from '../../../ir/node.ts';
import { actFormatOf, tokenScaleDivisor } from '../../../ir/quant.ts';
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
 * 8 per word. format = e4m3 (FP8 activations) stores e4m3 codes in the i8 bytes. token_scale / quantize with a
 * producer prologue go to quantize-prologue.ts. Quotients are computed exactly (q_div), so results match the reference bit for bit.
 */

function qmax(n: Node): number {
  const bits = attr<number>(n, 'bits');
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new Error(`wgsl: ${n.op} bits must be in 2..8, got ${bits}`);
  return 2 ** (bits - 1) - 1;
}

/** token_scale's divisor qmax / clip, qmax = 448 for e4m3 (ir/quant.ts tokenScaleDivisor). */
export function divisor(n: Node): number {
  qmax(n);
  return tokenScaleDivisor(attr<number>(n, 'bits'), n.attrs['clip'] as number | undefined, actFormatOf(n.attrs));
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

/**
 * The e4m3 code (ir/fp8.ts) of f32(v / d), as the low byte of an i32 like q_round's result: nearest even on the
 * f32 bits (3 of 23 fraction bits kept, ties to even), saturating at ±448, the sign kept, NaN → +0. Below 2^−6 the
 * grid is m · 2^−9, and |v / d| · 512 is exact, so WGSL's half-to-even `round` gives m. Bit-identical to the reference.
 */
export const QUANT_E4M3 = `fn q_e4m3(v: f32, d: f32) -> i32 {
  let u = bitcast<u32>(q_div(v, d));
  let s = (u >> 24u) & 0x80u;
  let a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) { return 0; }
  if (a >= 0x43E00000u) { return i32(s | 0x7Eu); }
  if (a < 0x3C800000u) { return i32(s | u32(round(bitcast<f32>(a) * 512.0))); }
  return i32(s | (((a + 0x7FFFFu + ((a >> 20u) & 1u)) >> 20u) - 960u));
}`;

/** The value of e4m3 code `c` (low byte): exact in f32. The NaN codes (never written by quantize) read as ±480. */
export const E4M3_VALUE = `fn e4m3_value(c: u32) -> f32 {
  let em = c & 0x7Fu;
  let sub = bitcast<u32>(f32(em) * 0.001953125);
  return bitcast<f32>(((c & 0x80u) << 24u) | select((em + 960u) << 20u, sub, em < 8u));
}`;

/** The code of v / Δ as an i32 (low byte stored): q_round's integer or q_e4m3's code by the node's format. */
export function quantCall(n: Node, v: string, d: string): string {
  if (actFormatOf(n.attrs) === 'e4m3') return `q_e4m3(${v}, ${d})`;
  const q = qmax(n);
  return `q_round(${v}, ${d}, ${-q - 1}.0, ${q}.0)`;
}

/** The helpers quantCall's expression needs. */
export function quantHelpers(n: Node): string[] {
  return [QDIV, actFormatOf(n.attrs) === 'e4m3' ? QUANT_E4M3 : QUANT];
}

/** Cache-key part of a quantize: its qmax, or e4m3. */
export function quantHint(n: Node): string {
  return actFormatOf(n.attrs) === 'e4m3' ? 'e4m3' : `q${qmax(n)}`;
}

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
  const x = tensorVar('x0', xt.dtype, xt.shape, ctx.elem);
  const d = tensorVar('x1', dt.dtype, dt.shape, ctx.elem);
  const y = tensorVar('y', 'u32', [words], ctx.elem);
  const wg = ELEMENTWISE_WORKGROUP;
  return buildKernel({
    name: 'quantize',
    hint: `${ctx.elem};${quantHint(n)};k${k}`,
    vars: [x, d, y],
    workgroup: [wg],
    workgroups: Math.ceil(words / wg),
    prelude: quantHelpers(n),
    body: [
      `let o = wg * ${wg}u + lidx;`,
      `if (o >= ${words}u) { return; }`,
      `let row = o / ${kw}u; let k0 = (o % ${kw}u) * 4u;`,
      'var packed = 0u;',
      'for (var b = 0u; b < 4u; b++) {',
      `  if (k0 + b < ${k}u) {`,
      `    let i = row * ${k}u + k0 + b;`,
      `    let v = ${quantCall(n, x.load('i'), d.load(d.broadcastOffset(xt.shape, 'i')))};`,
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

/**
 * dequantize(q, Δ) = f32(q) · Δ with q i8 (packed), i4 (packed) or i32; with format e4m3, q's bytes are codes and
 * f32(q) is their value. One invocation per element.
 */
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
  const fp8 = actFormatOf(n.attrs) === 'e4m3';
  if (fp8 && qt.dtype !== 'i8') throw new Error(`wgsl: dequantize of e4m3 codes expects i8 bytes, got ${qt.dtype}`);
  // the code is the byte's unsigned reading (e4m3_value masks the low 8 bits of the sign-extended field)
  const value = fp8 ? `e4m3_value(u32(${loadQ(qt.dtype, qv.name, k, 'i')}))` : `f32(${loadQ(qt.dtype, qv.name, k, 'i')})`;
  return buildKernel({
    name: 'dequantize',
    hint: `${ctx.elem};${qt.dtype}${fp8 ? ';e4m3' : ''};k${k}`,
    vars: [qv, d, y],
    workgroup: [wg],
    workgroups: Math.ceil(total / wg),
    ...(fp8 ? { prelude: [E4M3_VALUE] } : {}),
    body: [
      `let i = wg * ${wg}u + lidx;`,
      `if (i >= ${total}u) { return; }`,
      y.store('i', `${value} * ${d.load(d.broadcastOffset(qt.shape, 'i'))}`),
    ],
    flops: total,
    bytes: qv.numel * 4 + total * bytesOf(y.storage),
  });
}
