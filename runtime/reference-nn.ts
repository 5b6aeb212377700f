import type { Node } from '../ir/node.ts';
import { normAxis, strides } from '../ir/types.ts';
import { gemmNT, transposeBlock } from './reference-gemm.ts';
import { alloc, broadcastIndex, prod, stridedIndex, type Buf, type Ctx, type Val } from './reference-values.ts';

// Accumulations (dot products, sums, softmax denominators, norm statistics) run in f64; each result element is
// rounded once, when it is stored.

function num(n: Node, name: string, fallback?: number): number {
  const v = n.attrs[name] ?? fallback;
  if (typeof v !== 'number') throw new Error(`${n.op}: attribute ${name} must be a number`);
  return v;
}

export function evalMatmul(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [a, b] = [src[0]!, src[1]!];
  const [as, bs] = [a.type.shape, b.type.shape];
  const [M, K, N] = [as[as.length - 2]!, as[as.length - 1]!, bs[bs.length - 1]!];
  const batch = n.type.shape.slice(0, -2);
  const ia = broadcastIndex(as.slice(0, -2), batch);
  const ib = broadcastIndex(bs.slice(0, -2), batch);
  const out = alloc(n.type, ctx);
  // b is transposed once per distinct batch slice so the kernel reads both operands along k
  const bt = new Map<number, Float64Array>();
  for (let t = 0; t < prod(batch); t++) {
    const bi = ib ? ib[t]! : t;
    let w = bt.get(bi);
    if (!w) bt.set(bi, (w = transposeBlock(b.data, bi * K * N, K, N)));
    const x = a.data;
    gemmNT({ x, xOff: (ia ? ia[t]! : t) * M * K, w, wOff: 0, o: out.data, oOff: t * M * N, rows: M, cols: N, k: K });
  }
  return out;
}

export function evalLinear(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [N, K] = src[1]!.type.shape as [number, number];
  const out = alloc(n.type, ctx);
  const rows = out.data.length / Math.max(N, 1);
  gemmNT({ x: src[0]!.data, xOff: 0, w: src[1]!.data, wOff: 0, o: out.data, oOff: 0, rows, cols: N, k: K,
    bias: src[2]?.data });
  return out;
}

export function evalNorm(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const eps = num(n, 'eps', 1e-6);
  const rms = n.op === 'rmsnorm';
  const [x, w, b] = [src[0]!.data, src[1]?.data, src[2]?.data];
  const D = n.type.shape[n.type.shape.length - 1]!;
  const out = alloc(n.type, ctx);
  const o = out.data;
  for (let r = 0; r * D < x.length; r++) {
    const base = r * D;
    let mean = 0;
    if (!rms) {
      for (let i = 0; i < D; i++) mean += x[base + i]!;
      mean /= D;
    }
    let ss = 0;
    for (let i = 0; i < D; i++) ss += (x[base + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) {
      const y = (x[base + i]! - mean) * inv;
      o[base + i] = (w ? y * w[i]! : y) + (b ? b[i]! : 0);
    }
  }
  return out;
}

export function evalSoftmax(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const s = n.type.shape;
  const axis = normAxis(num(n, 'axis', -1), s.length)!;
  const [outer, len, inner] = [prod(s, 0, axis), s[axis]!, prod(s, axis + 1)];
  const x = src[0]!.data;
  const out = alloc(n.type, ctx);
  const o = out.data;
  const e = new Float64Array(len);
  for (let p = 0; p < outer; p++) {
    for (let q = 0; q < inner; q++) {
      const base = p * len * inner + q;
      let max = -Infinity;
      for (let i = 0; i < len; i++) max = Math.max(max, x[base + i * inner]!);
      let sum = 0;
      for (let i = 0; i < len; i++) sum += e[i] = Math.exp(x[base + i * inner]! - max);
      for (let i = 0; i < len; i++) o[base + i * inner] = e[i]! / sum;
    }
  }
  return out;
}

// query rows per tile: the score buffer is ATTN_TILE × Nk, never B·H·Nq·Nk
const ATTN_TILE = 8;

/** Per (batch, head) and tile of query rows: scores, masked softmax and P·V from small row buffers. */
export function evalAttention(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [q, k, v, m] = [src[0]!, src[1]!, src[2]!, src[3]];
  const [B, H, Nq, D] = q.type.shape as [number, number, number, number];
  const [Nk, Dv] = [k.type.shape[2]!, v.type.shape[3]!];
  const scale = num(n, 'scale');
  const ms = m ? maskStrides(m.type.shape) : [0, 0, 0, 0];
  const mask = m ? { data: m.data, isBool: m.type.dtype === 'bool', sj: ms[3]! } : undefined;
  const out = alloc(n.type, ctx);
  const s = new Float64Array(ATTN_TILE * Nk);
  const pv = new Float64Array(ATTN_TILE * Dv);
  const sums = new Float64Array(ATTN_TILE);
  for (let bh = 0; bh < B * H; bh++) {
    const vt = transposeBlock(v.data, bh * Nk * Dv, Nk, Dv);
    const mBh = Math.floor(bh / H) * ms[0]! + (bh % H) * ms[1]!;
    for (let i0 = 0; i0 < Nq; i0 += ATTN_TILE) {
      const rows = Math.min(ATTN_TILE, Nq - i0);
      const xOff = (bh * Nq + i0) * D;
      gemmNT({ x: q.data, xOff, w: k.data, wOff: bh * Nk * D, o: s, oOff: 0, rows, cols: Nk, k: D });
      for (let r = 0; r < rows; r++) sums[r] = softmaxRow(s, r * Nk, Nk, scale, mask, mBh + (i0 + r) * ms[2]!);
      gemmNT({ x: s, xOff: 0, w: vt, wOff: 0, o: pv, oOff: 0, rows, cols: Dv, k: Nk });
      const o = out.data;
      const base = (bh * Nq + i0) * Dv;
      for (let r = 0; r < rows; r++) for (let d = 0; d < Dv; d++) o[base + r * Dv + d] = pv[r * Dv + d]! / sums[r]!;
    }
  }
  return out;
}

interface MaskRef {
  readonly data: Buf;
  readonly isBool: boolean;
  readonly sj: number;
}

/** Scales and masks one score row, replaces it by exp(x − max) and returns the sum (the softmax denominator). */
function softmaxRow(
  s: Float64Array, off: number, len: number, scale: number, mask: MaskRef | undefined, mo: number,
): number {
  let max = -Infinity;
  for (let j = 0; j < len; j++) {
    let x = s[off + j]! * scale;
    if (mask) {
      const mv = mask.data[mo + j * mask.sj]!;
      x = mask.isBool ? (mv ? x : -Infinity) : x + mv;
    }
    s[off + j] = x;
    if (x > max) max = x;
  }
  // a fully masked row has max = −∞ and gives NaN, as softmax over all −∞ does
  let sum = 0;
  for (let j = 0; j < len; j++) sum += s[off + j] = Math.exp(s[off + j]! - max);
  return sum;
}

/** Strides of a mask broadcast to rank 4; 0 along broadcast axes. */
function maskStrides(shape: readonly number[]): number[] {
  const st = strides(shape);
  const pad = 4 - shape.length;
  return [0, 1, 2, 3].map((i) => (i < pad || shape[i - pad] === 1 ? 0 : st[i - pad]!));
}

export function evalReduce(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const x = src[0]!;
  const s = x.type.shape;
  const axes = new Set((n.attrs['axes'] as readonly number[]).map((a) => normAxis(a, s.length)!));
  // output strides laid over the input shape, 0 along reduced axes: input element i adds into acc[idx[i]]
  const kept = s.map((d, i) => (axes.has(i) ? 1 : d));
  const ost = strides(kept).map((st, i) => (axes.has(i) ? 0 : st));
  const idx = stridedIndex(s, ost);
  const out = alloc(n.type, ctx);
  const acc = new Float64Array(out.data.length);
  const d = x.data;
  if (n.op === 'reduce_max') {
    acc.fill(-Infinity);
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      const o = idx[i]!;
      if (v > acc[o]! || v !== v) acc[o] = v;
    }
  } else {
    for (let i = 0; i < d.length; i++) acc[idx[i]!]! += d[i]!;
    if (n.op === 'reduce_mean') {
      const cnt = prod(s) / Math.max(1, acc.length);
      for (let i = 0; i < acc.length; i++) acc[i]! /= cnt;
    }
  }
  out.data.set(acc);
  return out;
}
