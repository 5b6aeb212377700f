import type { Node } from '../ir/node.ts';
import { normAxis, strides } from '../ir/types.ts';
import { alloc, broadcastIndex, prod, stridedIndex, type Ctx, type Val } from './reference-values.ts';

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
  const [A, B, O] = [a.data, b.data, out.data];
  const acc = new Float64Array(N);
  for (let bt = 0; bt < prod(batch); bt++) {
    const aOff = (ia ? ia[bt]! : bt) * M * K;
    const bOff = (ib ? ib[bt]! : bt) * K * N;
    for (let i = 0; i < M; i++) {
      acc.fill(0);
      // i-k-j order: the inner loop streams one row of b into the accumulator row
      for (let k = 0; k < K; k++) {
        const aik = A[aOff + i * K + k]!;
        const bo = bOff + k * N;
        for (let j = 0; j < N; j++) acc[j]! += aik * B[bo + j]!;
      }
      O.set(acc, (bt * M + i) * N);
    }
  }
  return out;
}

export function evalLinear(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [x, w, bias] = [src[0]!.data, src[1]!.data, src[2]?.data];
  const [N, K] = src[1]!.type.shape as [number, number];
  const R = K ? x.length / K : prod(n.type.shape) / N;
  const out = alloc(n.type, ctx);
  const o = out.data;
  for (let r = 0; r < R; r++) {
    const xo = r * K;
    let j = 0;
    // four output features at a time: four independent accumulators over one pass of the x row
    for (; j + 4 <= N; j += 4) {
      const w0 = j * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const xv = x[xo + k]!;
        s0 += xv * w[w0 + k]!;
        s1 += xv * w[w1 + k]!;
        s2 += xv * w[w2 + k]!;
        s3 += xv * w[w3 + k]!;
      }
      const oo = r * N + j;
      o[oo] = bias ? s0 + bias[j]! : s0;
      o[oo + 1] = bias ? s1 + bias[j + 1]! : s1;
      o[oo + 2] = bias ? s2 + bias[j + 2]! : s2;
      o[oo + 3] = bias ? s3 + bias[j + 3]! : s3;
    }
    for (; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[xo + k]! * w[j * K + k]!;
      o[r * N + j] = bias ? s + bias[j]! : s;
    }
  }
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

/** Per (batch, head, query row) with one score row: never materialises the B·H·Nq·Nk score tensor. */
export function evalAttention(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [q, k, v, m] = [src[0]!, src[1]!, src[2]!, src[3]];
  const [B, H, Nq, D] = q.type.shape as [number, number, number, number];
  const [Nk, Dv] = [k.type.shape[2]!, v.type.shape[3]!];
  const scale = num(n, 'scale');
  const ms = m ? maskStrides(m.type.shape) : [0, 0, 0, 0];
  const isBool = m?.type.dtype === 'bool';
  const [Q, Kd, V, Md] = [q.data, k.data, v.data, m?.data];
  const out = alloc(n.type, ctx);
  const o = out.data;
  const s = new Float64Array(Nk);
  const acc = new Float64Array(Dv);
  for (let bh = 0; bh < B * H; bh++) {
    const [kBase, vBase] = [bh * Nk * D, bh * Nk * Dv];
    const mBh = Math.floor(bh / H) * ms[0]! + (bh % H) * ms[1]!;
    for (let i = 0; i < Nq; i++) {
      const qo = (bh * Nq + i) * D;
      const mo = mBh + i * ms[2]!;
      let max = -Infinity;
      for (let j = 0; j < Nk; j++) {
        let dot = 0;
        for (let d = 0, ko = kBase + j * D; d < D; d++) dot += Q[qo + d]! * Kd[ko + d]!;
        let x = dot * scale;
        if (Md) x = isBool ? (Md[mo + j * ms[3]!] ? x : -Infinity) : x + Md[mo + j * ms[3]!]!;
        s[j] = x;
        if (x > max) max = x;
      }
      let sum = 0;
      acc.fill(0);
      for (let j = 0; j < Nk; j++) {
        // a fully masked row has max = −∞ and gives NaN, as softmax over all −∞ does
        const p = Math.exp(s[j]! - max);
        sum += p;
        if (p === 0) continue;
        for (let d = 0, vo = vBase + j * Dv; d < Dv; d++) acc[d]! += p * V[vo + d]!;
      }
      const oo = (bh * Nq + i) * Dv;
      for (let d = 0; d < Dv; d++) o[oo + d] = acc[d]! / sum;
    }
  }
  return out;
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
