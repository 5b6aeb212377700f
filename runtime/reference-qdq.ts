import { hasPrologue } from '../ir/infer.ts';
import type { Node } from '../ir/node.ts';
import { decodeE4m3, encodeE4m3 } from '../ir/fp8.ts';
import { actFormatOf, quantizeValue, tokenScaleDivisor } from '../ir/quant.ts';
import { evalPrologue } from './reference-prologue.ts';
import { unaryFn } from './reference-elementwise.ts';
import { gemmNT } from './reference-gemm.ts';
import { alloc, broadcastIndex, type Ctx, type Val } from './reference-values.ts';

/*
 * QDQ ops (ir/ops.ts). The f32 steps are rounded exactly where an f32 kernel rounds, so the WGSL kernels can be
 * compared bit for bit; in f64 mode nothing is rounded. i4 values arrive unpacked (reference-values.ts).
 *   token_scale: Δ = f32(max_k |x| / qmax), 1 for an all-zero row (max is exact, one rounding of the quotient)
 *   quantize:    clamp(round_half_even(f32(x / Δ))); NaN → 0
 *   dequantize:  f32(q) · Δ, one rounding
 *   qgemm:       acc = Σ_k xq·wq exactly (integer products summed in f64: |acc| ≤ 128·128·K < 2^53), then
 *                ((f32(acc) · Δx) · Δw) + b, each step rounded to f32, left to right; then the epilogue (act, gate,
 *                residual), each step rounded to f32 as the gelu / gate / add op it replaces
 *   token_scale and quantize with a producer prologue read the chain's value (reference-prologue.ts)
 * With format / aformat = 'e4m3' (ir/fp8.ts): Δ = f32(max|x| / 448); quantize stores the e4m3 code of f32(x / Δ) as
 * an i8 byte; dequantize and qgemm read the code's value. qgemm's products of e4m3 and int4 values are exact and so
 * is their f64 sum (< 2^22 · K range), rounded once to f32: the exactly rounded sum every f32 kernel approximates.
 */

function bitsOf(n: Node, name = 'bits'): number {
  const b = n.attrs[name];
  if (typeof b !== 'number') throw new Error(`${n.op}: attribute ${name} must be a number`);
  return b;
}

function lastDim(v: Val): number {
  return v.type.shape[v.type.shape.length - 1] ?? 1;
}

/** The value token_scale / quantize reads: operand 0, or its producer chain's value. */
function chainInput(n: Node, src: readonly Val[], ctx: Ctx): Val {
  return hasPrologue(n.attrs) ? evalPrologue(n, src, ctx) : src[0]!;
}

export function evalTokenScale(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const x = chainInput(n, src, ctx);
  const k = lastDim(x);
  const qm = tokenScaleDivisor(bitsOf(n), n.attrs['clip'] as number | undefined, actFormatOf(n.attrs));
  const out = alloc(n.type, ctx);
  const round = ctx.f64 ? (v: number) => v : Math.fround;
  for (let r = 0; r < out.data.length; r++) {
    let m = 0;
    for (let i = r * k; i < (r + 1) * k; i++) m = Math.max(m, Math.abs(x.data[i]!));
    out.data[r] = m === 0 ? 1 : round(m / qm);
  }
  return out;
}

export function evalQuantize(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [x, d] = [chainInput(n, src, ctx), src[src.length - 1]!];
  const bits = bitsOf(n);
  const out = alloc(n.type, ctx);
  const idx = broadcastIndex(d.type.shape, n.type.shape);
  const round = ctx.f64 ? (v: number) => v : Math.fround;
  // an e4m3 code lands in the i8 byte as its two's-complement reading (0x80.. → −128..)
  const code = actFormatOf(n.attrs) === 'e4m3' ? (v: number) => (encodeE4m3(v) << 24) >> 24 : undefined;
  for (let i = 0; i < out.data.length; i++) {
    const v = round(x.data[i]! / d.data[idx ? idx[i]! : i]!);
    out.data[i] = code ? code(v) : quantizeValue(v, bits);
  }
  return out;
}

export function evalDequantize(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [q, d] = [src[0]!, src[1]!];
  const out = alloc(n.type, ctx);
  const idx = broadcastIndex(d.type.shape, n.type.shape);
  const value = actFormatOf(n.attrs) === 'e4m3' ? decodeE4m3 : (v: number) => v;
  for (let i = 0; i < out.data.length; i++) out.data[i] = value(q.data[i]!) * d.data[idx ? idx[i]! : i]!;
  return out;
}

/** qgemm's epilogue operands by role: b?, then g (gate), then r (residual) (ir/ops.ts). */
export function qgemmOperands<T>(n: Node, src: readonly T[]): { bias?: T; gate?: T; residual?: T } {
  const gate = n.attrs['gate'] === true;
  const residual = n.attrs['residual'] === true;
  const extra = src.slice(4);
  const nb = extra.length - Number(gate) - Number(residual);
  return {
    ...(nb > 0 ? { bias: extra[0]! } : {}),
    ...(gate ? { gate: extra[nb]! } : {}),
    ...(residual ? { residual: extra[extra.length - 1]! } : {}),
  };
}

/** y ↦ act(y) · g + r per output element `i` of row `r`, rounding each step as the unfused op does. */
function epilogueFn(n: Node, src: readonly Val[], ctx: Ctx, cols: number): (y: number, i: number) => number {
  const { gate, residual } = qgemmOperands(n, src);
  const act = (n.attrs['act'] as string | undefined) ?? 'none';
  const round = ctx.f64 ? (v: number) => v : Math.fround;
  const gelu = act === 'none' ? undefined : unaryFn('gelu', { approx: act === 'gelu_tanh' ? 'tanh' : 'none' });
  const tokens = gate ? n.type.shape[1]! : 1;
  return (y, i) => {
    let v = gelu ? round(gelu(y)) : y;
    if (gate) v = round(v * gate.data[Math.floor(i / (tokens * cols)) * cols + (i % cols)]!);
    return residual ? round(residual.data[i]! + v) : v;
  };
}

export function evalQgemm(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [x, sx, w, sw] = [src[0]!, src[1]!, src[2]!, src[3]!];
  const b = qgemmOperands(n, src).bias;
  const [N, K] = w.type.shape as [number, number];
  const rows = sx.data.length;
  const fp8 = actFormatOf(n.attrs, 'aformat') === 'e4m3';
  // |xq·wq| ≤ 2^7 · 2^(wbits−1): past this K a kernel's i32 accumulator could wrap, so the sum is undefined
  const maxK = 2 ** 31 / (2 ** 7 * 2 ** (bitsOf(n, 'wbits') - 1));
  if (!fp8 && K >= maxK) throw new Error(`qgemm: K = ${K} can overflow the i32 accumulator (limit ${maxK - 1})`);
  const acc = new Float64Array(rows * N);
  const xs = fp8 ? Float64Array.from(x.data, decodeE4m3) : x.data;
  gemmNT({ x: xs, xOff: 0, w: w.data, wOff: 0, o: acc, oOff: 0, rows, cols: N, k: K });
  const out = alloc(n.type, ctx);
  const round = ctx.f64 ? (v: number) => v : Math.fround;
  const post = epilogueFn(n, src, ctx, N);
  for (let r = 0; r < rows; r++) {
    const dx = sx.data[r]!;
    for (let j = 0; j < N; j++) {
      const y = round(round(round(acc[r * N + j]!) * dx) * sw.data[j]!);
      out.data[r * N + j] = post(b ? round(y + b.data[j]!) : y, r * N + j);
    }
  }
  return out;
}
