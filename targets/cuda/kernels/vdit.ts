import { scheduleBounds } from '../../../ir/infer-sparse-attention.ts';
import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import { ropePairs } from '../../wgsl/kernels/vdit.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaLiteral, cudaScheduleRow } from '../render.ts';
import { cudaTensor, type CudaTensor } from '../tensor-var.ts';
import { CUDA_ELEMENTWISE_BLOCK } from './elementwise.ts';

// The video-DiT ops are elementwise with structured operands: one output element (rope3d: one pair) per thread.

function pointwise(n: Node, vars: readonly CudaTensor[], items: number, body: readonly string[], prelude: string[] = []): CudaKernel {
  const bs = CUDA_ELEMENTWISE_BLOCK;
  return buildCudaKernel({
    name: n.op, vars, block: bs, blocks: Math.ceil(items / bs), prelude,
    body: [`const unsigned i = blk * ${bs}u + threadIdx.x;`, `if (i >= ${items}u) return;`, ...body],
    flops: items * 4,
  });
}

/** f_i = exp(−ln(max_period)·i/(dim/2 − shift)), a = scale·t·f; [cos a, sin a] or, with flip, [sin a, cos a]. */
export function lowerCudaTimestepEmbedding(n: Node, ctx: LowerContext): CudaKernel {
  const dim = attr<number>(n, 'dim');
  const half = dim / 2;
  const k = -Math.log(attr<number>(n, 'max_period', 10000)) / (half - attr<number>(n, 'shift', 0));
  const flip = attr<boolean>(n, 'flip', false);
  const t = cudaTensor('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  return pointwise(n, [t, y], y.numel, [
    `const unsigned b = i / ${dim}u, c = i % ${dim}u, j = c % ${half}u;`,
    `const float a = ${cudaLiteral(attr<number>(n, 'scale', 1), 'float')} * ${t.load('b')} * expf(${cudaLiteral(k, 'float')} * float(j));`,
    `const bool first = (c < ${half}u) != ${flip};`,
    y.store('i', 'first ? cosf(a) : sinf(a)'),
  ]);
}

/**
 * schedule_value{values, bounds}(t) = values[r], r = #{i : t < bounds[i]}: one batch element per thread, the bounds
 * rounded up to f32 (f32Bound) so the f32 comparison picks the reference's range, t = f32(bound) included.
 */
export function lowerCudaScheduleValue(n: Node, ctx: LowerContext): CudaKernel {
  const values = attr<readonly number[]>(n, 'values');
  const bounds = scheduleBounds(n.attrs, values.length, 'schedule_value', 'values');
  const t = cudaTensor('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const row = cudaScheduleRow('tb', bounds);
  const table = values.map((v) => cudaLiteral(Math.fround(v), 'float')).join(', ');
  return pointwise(n, [t, y], y.numel, [
    // one range (no bounds) reads no timestep: nvcc -Werror rejects an unused variable
    ...(bounds.length ? [`const float tb = ${t.load('i')};`] : []),
    `const unsigned r = ${row};`,
    y.store('i', 'VALUES[r]'),
  ], [`__constant__ float VALUES[${values.length}] = {${table}};`]);
}

/** modulate(x, shift, scale) = x·(1 + scale) + shift and gate(x, g) = x·g, conditioning per (batch, channel). */
export function lowerCudaAdaLN(n: Node, ctx: LowerContext): CudaKernel {
  const [B, N, D] = n.type.shape as [number, number, number];
  const [x, c1, c2] = n.src.map((s, i) => cudaTensor(`x${i}`, s.type.dtype, s.type.shape, ctx.elem));
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const value = c2 ? `v * (1.0f + ${c2.load('c')}) + ${c1!.load('c')}` : `v * ${c1!.load('c')}`;
  return pointwise(n, [x!, c1!, ...(c2 ? [c2] : []), y], B * N * D, [
    `const unsigned c = (i / ${N * D}u) * ${D}u + i % ${D}u;`,
    `const float v = ${x!.load('i')};`,
    y.store('i', value),
  ]);
}

/** rope3d: tokens from `offset` on sit at row-major (t, h, w) of the grid; earlier (text) tokens pass unchanged. */
export function lowerCudaRope3d(n: Node, ctx: LowerContext): CudaKernel {
  const [B, Hh, N, D] = n.type.shape as [number, number, number, number];
  const [, GH, GW] = attr<readonly number[]>(n, 'grid') as [number, number, number];
  const offset = attr<number>(n, 'offset', 0);
  const { axis, freq } = ropePairs(attr<readonly number[]>(n, 'dims'), attr<number>(n, 'theta', 10000));
  const P = D / 2;
  const x = cudaTensor('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  return pointwise(n, [x, y], B * Hh * N * P, [
    `const unsigned p = i % ${P}u, t = (i / ${P}u) % ${N}u, o = (i / ${P}u) * ${D}u + 2u * p;`,
    `const float e0 = ${x.load('o')}, e1 = ${x.load('o + 1u')};`,
    ...(offset > 0 ? [`if (t < ${offset}u) { ${y.store('o', 'e0')} ${y.store('o + 1u', 'e1')} return; }`] : []),
    `const unsigned m = t - ${offset}u;`,
    `const unsigned coord[3] = {m / ${GH * GW}u, (m / ${GW}u) % ${GH}u, m % ${GW}u};`,
    'const float a = float(coord[PAIR_AXIS[p]]) * PAIR_FREQ[p];',
    'const float cs = cosf(a), sn = sinf(a);',
    y.store('o', 'e0 * cs - e1 * sn'),
    y.store('o + 1u', 'e0 * sn + e1 * cs'),
  ], [
    `__constant__ unsigned PAIR_AXIS[${P}] = {${axis.map((a) => `${a}u`).join(', ')}};`,
    `__constant__ float PAIR_FREQ[${P}] = {${freq.map((f) => cudaLiteral(f, 'float')).join(', ')}};`,
  ]);
}
