import { attr, type Node } from '../../../ir/node.ts';
import { normAxis, numel, strides, type Shape } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel } from '../render.ts';
import { tensorVar, type TensorVar } from '../tensor-var.ts';
import { bytesOf, ELEMENTWISE_WORKGROUP } from './elementwise.ts';

// Shape ops are pure copies: one output element per invocation; values stay in their storage type.

function axisAttr(n: Node, name: string, rank: number, fallback?: number): number {
  const a = normAxis(attr<number>(n, name, fallback), rank);
  if (a === undefined) throw new Error(`wgsl: ${n.op}: ${name} out of range`);
  return a;
}

/** A copy kernel whose body computes `src` (the storage offset to read, possibly per operand) for output index `i`. */
function copyKernel(n: Node, ctx: LowerContext, xs: TensorVar[], body: (y: TensorVar) => string[]): KernelSpec {
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const wg = ELEMENTWISE_WORKGROUP;
  return buildKernel({
    name: n.op,
    hint: `${ctx.elem};${attrHint(n.attrs)}`,
    vars: [...xs, y],
    workgroup: [wg],
    workgroups: Math.ceil(y.numel / wg),
    body: [`let i = wg * ${wg}u + lidx;`, `if (i >= ${y.numel}u) { return; }`, ...body(y)],
    flops: 0,
    bytes: 2 * y.numel * bytesOf(y.storage),
  });
}

/** Raw storage copy: no conversion, so bool/int/f16 move bit-exactly. */
function rawCopy(y: TensorVar, x: TensorVar, offset: string): string {
  return `${y.name}[i] = ${x.name}[${offset}];`;
}

function permuteWith(n: Node, ctx: LowerContext, perm: readonly number[]): KernelSpec {
  const src = n.src[0]!.type.shape;
  const x = tensorVar('x0', n.src[0]!.type.dtype, src, ctx.elem);
  const st = strides(src);
  return copyKernel(n, ctx, [x], (y) => [rawCopy(y, x, x.viewOffset('perm', y.shape, perm.map((p) => st[p]!), 'i'))]);
}

export function lowerPermute(n: Node, ctx: LowerContext): KernelSpec {
  return permuteWith(n, ctx, attr<readonly number[]>(n, 'perm'));
}

export function lowerTranspose(n: Node, ctx: LowerContext): KernelSpec {
  const r = n.type.shape.length;
  const [a, b] = [axisAttr(n, 'dim0', r), axisAttr(n, 'dim1', r)];
  return permuteWith(n, ctx, Array.from({ length: r }, (_, i) => (i === a ? b : i === b ? a : i)));
}

export function lowerSlice(n: Node, ctx: LowerContext): KernelSpec {
  const s = n.src[0]!.type.shape;
  const axis = axisAttr(n, 'axis', s.length);
  const [start, step] = [attr<number>(n, 'start'), attr<number>(n, 'step', 1)];
  const x = tensorVar('x0', n.src[0]!.type.dtype, s, ctx.elem);
  const st = strides(s);
  const view = st.map((v, i) => (i === axis ? v * step : v));
  return copyKernel(n, ctx, [x], (y) => [rawCopy(y, x, x.viewOffset('slice', y.shape, view, 'i', start * st[axis]!))]);
}

/** Splits output index `i` around `axis` into (outer, c, inner) of `shape`. */
function splitAround(shape: Shape, axis: number): string[] {
  const inner = numel(shape.slice(axis + 1));
  const len = shape[axis]!;
  return [
    `let inner = i % ${inner}u;`,
    `let c = (i / ${inner}u) % ${len}u;`,
    `let outer = i / ${inner * len}u;`,
  ];
}

// the WebGPU default maxStorageBuffersPerShaderStage is 8, and the result takes one
const MAX_CONCAT_OPERANDS = 7;

export function lowerConcat(n: Node, ctx: LowerContext): KernelSpec {
  if (n.src.length > MAX_CONCAT_OPERANDS) {
    throw new Error(`wgsl: concat of ${n.src.length} operands exceeds ${MAX_CONCAT_OPERANDS} bindings; split it`);
  }
  const s = n.type.shape;
  const axis = axisAttr(n, 'axis', s.length);
  const inner = numel(s.slice(axis + 1));
  const xs = n.src.map((src, k) => tensorVar(`x${k}`, src.type.dtype, src.type.shape, ctx.elem));
  return copyKernel(n, ctx, xs, (y) => {
    const lines = splitAround(s, axis);
    let lo = 0;
    xs.forEach((x, k) => {
      const len = x.shape[axis]!;
      const cond = k === xs.length - 1 ? '' : `if (c < ${lo + len}u) `;
      const off = `(outer * ${len}u + c - ${lo}u) * ${inner}u + inner`;
      lines.push(`${k ? 'else ' : ''}${cond}{ ${rawCopy(y, x, off)} }`);
      lo += len;
    });
    return lines;
  });
}

export function lowerGather(n: Node, ctx: LowerContext): KernelSpec {
  const [xt, it] = [n.src[0]!.type, n.src[1]!.type];
  const axis = axisAttr(n, 'axis', xt.shape.length, 0);
  const size = xt.shape[axis]!;
  const inner = numel(xt.shape.slice(axis + 1));
  const count = numel(it.shape);
  const x = tensorVar('x0', xt.dtype, xt.shape, ctx.elem);
  const idx = tensorVar('x1', it.dtype, it.shape, ctx.elem);
  return copyKernel(n, ctx, [x, idx], (y) => [
    `let inner = i % ${inner}u;`,
    `let t = (i / ${inner}u) % ${count}u;`,
    `let outer = i / ${inner * count}u;`,
    // out-of-range indices are a graph bug; clamp so the kernel never reads outside x
    `let k = u32(clamp(${idx.load('t')}, 0i, ${size - 1}i));`,
    rawCopy(y, x, `(outer * ${size}u + k) * ${inner}u + inner`),
  ]);
}
