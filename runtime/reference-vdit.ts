import { scheduleBounds, scheduleRow } from '../ir/infer-sparse-attention.ts';
import type { Node } from '../ir/node.ts';
import { alloc, type Ctx, type Val } from './reference-values.ts';

function num(n: Node, name: string, fallback: number): number {
  const v = n.attrs[name] ?? fallback;
  if (typeof v !== 'number') throw new Error(`${n.op}: attribute ${name} must be a number`);
  return v;
}

/** f_i = exp(−ln(max_period)·i/(dim/2 − shift)), a = scale·t·f; [cos a, sin a], or [sin a, cos a] when flip. */
export function evalTimestepEmbedding(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const dim = num(n, 'dim', NaN);
  const maxPeriod = num(n, 'max_period', 10000);
  const shift = num(n, 'shift', 0);
  const scale = num(n, 'scale', 1);
  const flip = n.attrs['flip'] === true;
  const half = dim / 2;
  const t = src[0]!.data;
  const out = alloc(n.type, ctx);
  const o = out.data;
  for (let b = 0; b < t.length; b++) {
    for (let i = 0; i < half; i++) {
      const a = scale * t[b]! * Math.exp((-Math.log(maxPeriod) * i) / (half - shift));
      o[b * dim + i] = flip ? Math.sin(a) : Math.cos(a);
      o[b * dim + half + i] = flip ? Math.cos(a) : Math.sin(a);
    }
  }
  return out;
}

/** schedule_value{values, bounds}(t): per batch, the value of the range its timestep lies in. */
export function evalScheduleValue(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const values = n.attrs['values'] as number[];
  const bounds = scheduleBounds(n.attrs, values.length, 'schedule_value', 'values');
  const out = alloc(n.type, ctx);
  src[0]!.data.forEach((t, b) => {
    out.data[b] = values[scheduleRow(t, bounds)]!;
  });
  return out;
}

/** modulate(x, shift, scale) = x·(1 + scale) + shift; gate(x, g) = x·g; conditioning is per (batch, channel). */
export function evalAdaLN(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [B, N, D] = n.type.shape as [number, number, number];
  const x = src[0]!.data;
  const isGate = n.op === 'gate';
  const [c1, c2] = [src[1]!.data, src[2]?.data];
  const out = alloc(n.type, ctx);
  const o = out.data;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < N; t++) {
      const base = (b * N + t) * D;
      for (let d = 0; d < D; d++) {
        const c = b * D + d;
        o[base + d] = isGate ? x[base + d]! * c1[c]! : x[base + d]! * (1 + c2![c]!) + c1[c]!;
      }
    }
  }
  return out;
}

/**
 * rope3d: token offset + m has grid coordinates (t, h, w) = row-major unravel of m over [T, H, W]; head-dim
 * section s (of size d_s, starting at Σ d_<s) rotates pairs (x[2i], x[2i+1]) by p_s·theta^(−2i/d_s).
 */
export function evalRope3d(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [B, Hh, N, D] = n.type.shape as [number, number, number, number];
  const [T, GH, GW] = n.attrs['grid'] as readonly [number, number, number];
  const dims = n.attrs['dims'] as readonly number[];
  const theta = num(n, 'theta', 10000);
  const offset = num(n, 'offset', 0);
  const { cos, sin } = ropeTables(N, D, offset, [T, GH, GW], dims, theta);
  const x = src[0]!.data;
  const out = alloc(n.type, ctx);
  const o = out.data;
  const P = D / 2;
  for (let bh = 0; bh < B * Hh; bh++) {
    for (let t = 0; t < N; t++) {
      const base = (bh * N + t) * D;
      for (let p = 0; p < P; p++) {
        const x0 = x[base + 2 * p]!, x1 = x[base + 2 * p + 1]!;
        const c = cos[t * P + p]!, s = sin[t * P + p]!;
        o[base + 2 * p] = x0 * c - x1 * s;
        o[base + 2 * p + 1] = x0 * s + x1 * c;
      }
    }
  }
  return out;
}

/** cos/sin per (token, pair); text tokens (before offset) get the identity rotation. */
function ropeTables(
  N: number, D: number, offset: number, grid: readonly [number, number, number], dims: readonly number[],
  theta: number,
): { cos: Float64Array; sin: Float64Array } {
  const P = D / 2;
  const cos = new Float64Array(N * P).fill(1);
  const sin = new Float64Array(N * P);
  const [, GH, GW] = grid;
  for (let t = offset; t < N; t++) {
    const m = t - offset;
    const coord = [Math.floor(m / (GH * GW)), Math.floor(m / GW) % GH, m % GW];
    let pair = 0;
    dims.forEach((d, s) => {
      for (let i = 0; i < d / 2; i++, pair++) {
        const a = coord[s]! * theta ** ((-2 * i) / d);
        cos[t * P + pair] = Math.cos(a);
        sin[t * P + pair] = Math.sin(a);
      }
    });
  }
  return { cos, sin };
}
