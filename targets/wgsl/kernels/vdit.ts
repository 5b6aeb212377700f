import { scheduleBounds } from '../../../ir/infer-sparse-attention.ts';
import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel, literal, scheduleRowExpr } from '../render.ts';
import { tensorVar, type TensorVar } from '../tensor-var.ts';
import { bytesOf, ELEMENTWISE_WORKGROUP } from './elementwise.ts';

// The video-DiT ops are elementwise with structured operands: one output element (rope3d: one pair) per invocation.

interface PointwiseParts {
  readonly vars: readonly TensorVar[];
  readonly items: number;
  readonly prelude?: readonly string[];
  readonly body: readonly string[];
}

function pointwise(n: Node, ctx: LowerContext, p: PointwiseParts): KernelSpec {
  const wg = ELEMENTWISE_WORKGROUP;
  return buildKernel({
    name: n.op,
    hint: `${ctx.elem};${attrHint(n.attrs)}`,
    vars: p.vars,
    workgroup: [wg],
    workgroups: Math.ceil(p.items / wg),
    prelude: p.prelude ?? [],
    body: [`let i = wg * ${wg}u + lidx;`, `if (i >= ${p.items}u) { return; }`, ...p.body],
    flops: p.items * 4,
    bytes: p.vars.reduce((a, v) => a + v.numel * bytesOf(v.storage), 0),
  });
}

/** f_i = exp(−ln(max_period)·i/(dim/2 − shift)), a = scale·t·f; [cos a, sin a] or, with flip, [sin a, cos a]. */
export function lowerTimestepEmbedding(n: Node, ctx: LowerContext): KernelSpec {
  const dim = attr<number>(n, 'dim');
  const half = dim / 2;
  const k = -Math.log(attr<number>(n, 'max_period', 10000)) / (half - attr<number>(n, 'shift', 0));
  const flip = attr<boolean>(n, 'flip', false);
  const t = tensorVar('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  return pointwise(n, ctx, {
    vars: [t, y],
    items: y.numel,
    body: [
      `let b = i / ${dim}u; let c = i % ${dim}u; let j = c % ${half}u;`,
      `let a = ${literal(attr<number>(n, 'scale', 1), 'f32')} * ${t.load('b')} * exp(${literal(k, 'f32')} * f32(j));`,
      `let first = (c < ${half}u) != ${flip};`,
      y.store('i', 'select(sin(a), cos(a), first)'),
    ],
  });
}

/**
 * schedule_value{values, bounds}(t) = values[r], r = #{i : t < bounds[i]}: one batch element per invocation. Each
 * bound is rounded up to f32 (f32Bound), so comparing the f32 timestep in f32 picks the range the reference picks
 * in f64, t = f32(bound) included; the values are an f32 table (the reference stores them as f32 too).
 */
export function lowerScheduleValue(n: Node, ctx: LowerContext): KernelSpec {
  const values = attr<readonly number[]>(n, 'values');
  const bounds = scheduleBounds(n.attrs, values.length, 'schedule_value', 'values');
  const t = tensorVar('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const row = scheduleRowExpr('tb', bounds);
  const table = values.map((v) => literal(Math.fround(v), 'f32')).join(', ');
  return pointwise(n, ctx, {
    vars: [t, y],
    items: y.numel,
    prelude: [`const VALUES = array<f32, ${values.length}>(${table});`],
    body: [...(bounds.length ? [`let tb = ${t.load('i')};`] : []), `let r = ${row};`, y.store('i', 'VALUES[r]')],
  });
}

/** modulate(x, shift, scale) = x·(1 + scale) + shift and gate(x, g) = x·g, conditioning per (batch, channel). */
export function lowerAdaLN(n: Node, ctx: LowerContext): KernelSpec {
  const [B, N, D] = n.type.shape as [number, number, number];
  const [x, c1, c2] = n.src.map((s, i) => tensorVar(`x${i}`, s.type.dtype, s.type.shape, ctx.elem));
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const value = c2 ? `v * (1.0 + ${c2.load('c')}) + ${c1!.load('c')}` : `v * ${c1!.load('c')}`;
  return pointwise(n, ctx, {
    vars: [x!, c1!, ...(c2 ? [c2] : []), y],
    items: B * N * D,
    body: [`let c = (i / ${N * D}u) * ${D}u + i % ${D}u;`, `let v = ${x!.load('i')};`, y.store('i', value)],
  });
}

/** Per head-dim pair: which grid axis (0 t, 1 h, 2 w) drives it and its frequency theta^(−2i/d). */
export function ropePairs(dims: readonly number[], theta: number): { axis: number[]; freq: number[] } {
  const axis: number[] = [];
  const freq: number[] = [];
  dims.forEach((d, s) => {
    for (let i = 0; i < d / 2; i++) {
      axis.push(s);
      freq.push(theta ** ((-2 * i) / d));
    }
  });
  return { axis, freq };
}

/** rope3d: tokens from `offset` on sit at row-major (t, h, w) of the grid; earlier (text) tokens pass unchanged. */
export function lowerRope3d(n: Node, ctx: LowerContext): KernelSpec {
  const [B, Hh, N, D] = n.type.shape as [number, number, number, number];
  const [, GH, GW] = attr<readonly number[]>(n, 'grid') as [number, number, number];
  const offset = attr<number>(n, 'offset', 0);
  const { axis, freq } = ropePairs(attr<readonly number[]>(n, 'dims'), attr<number>(n, 'theta', 10000));
  const P = D / 2;
  const x = tensorVar('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  return pointwise(n, ctx, {
    vars: [x, y],
    items: B * Hh * N * P,
    prelude: [
      `const PAIR_AXIS = array<u32, ${P}>(${axis.map((a) => `${a}u`).join(', ')});`,
      `const PAIR_FREQ = array<f32, ${P}>(${freq.map((f) => literal(f, 'f32')).join(', ')});`,
    ],
    body: [
      `let p = i % ${P}u; let t = (i / ${P}u) % ${N}u; let o = (i / ${P}u) * ${D}u + 2u * p;`,
      `let e0 = ${x.load('o')}; let e1 = ${x.load('o + 1u')};`,
      `if (t < ${offset}u) { ${y.store('o', 'e0')} ${y.store('o + 1u', 'e1')} return; }`,
      `let m = t - ${offset}u;`,
      `let coord = array<u32, 3>(m / ${GH * GW}u, (m / ${GW}u) % ${GH}u, m % ${GW}u);`,
      'let a = f32(coord[PAIR_AXIS[p]]) * PAIR_FREQ[p];',
      'let cs = cos(a); let sn = sin(a);',
      y.store('o', 'e0 * cs - e1 * sn'),
      y.store('o + 1u', 'e0 * sn + e1 * cs'),
    ],
  });
}
