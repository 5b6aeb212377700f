import { attr, type Node } from '../../../ir/node.ts';
import { normAxis, numel, strides } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaTensor, type CudaTensor } from '../tensor-var.ts';
import { CUDA_ELEMENTWISE_BLOCK } from './elementwise.ts';

// Shape ops are index kernels: one output element per thread, raw storage copies (bit-exact for every dtype).

function axisAttr(n: Node, name: string, rank: number, fallback?: number): number {
  const a = normAxis(attr<number>(n, name, fallback), rank);
  if (a === undefined) throw new Error(`cuda: ${n.op}: ${name} out of range`);
  return a;
}

function copyKernel(n: Node, ctx: LowerContext, xs: CudaTensor[], body: (y: CudaTensor) => string[]): CudaKernel {
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const bs = CUDA_ELEMENTWISE_BLOCK;
  return buildCudaKernel({
    name: n.op, vars: [...xs, y], block: bs, blocks: Math.ceil(y.numel / bs),
    body: [`const unsigned i = blk * ${bs}u + threadIdx.x;`, `if (i >= ${y.numel}u) return;`, ...body(y)],
    flops: 0,
  });
}

const rawCopy = (y: CudaTensor, x: CudaTensor, offset: string): string => `${y.name}[i] = ${x.name}[${offset}];`;

function permuteWith(n: Node, ctx: LowerContext, perm: readonly number[]): CudaKernel {
  const src = n.src[0]!.type.shape;
  const x = cudaTensor('x0', n.src[0]!.type.dtype, src, ctx.elem);
  const st = strides(src);
  return copyKernel(n, ctx, [x], (y) => [rawCopy(y, x, x.viewOffset('perm', y.shape, perm.map((p) => st[p]!), 'i'))]);
}

export function lowerCudaPermute(n: Node, ctx: LowerContext): CudaKernel {
  return permuteWith(n, ctx, attr<readonly number[]>(n, 'perm'));
}

export function lowerCudaTranspose(n: Node, ctx: LowerContext): CudaKernel {
  const r = n.type.shape.length;
  const [a, b] = [axisAttr(n, 'dim0', r), axisAttr(n, 'dim1', r)];
  return permuteWith(n, ctx, Array.from({ length: r }, (_, i) => (i === a ? b : i === b ? a : i)));
}

export function lowerCudaSlice(n: Node, ctx: LowerContext): CudaKernel {
  const s = n.src[0]!.type.shape;
  const axis = axisAttr(n, 'axis', s.length);
  const [start, step] = [attr<number>(n, 'start'), attr<number>(n, 'step', 1)];
  const x = cudaTensor('x0', n.src[0]!.type.dtype, s, ctx.elem);
  const st = strides(s);
  const view = st.map((v, i) => (i === axis ? v * step : v));
  return copyKernel(n, ctx, [x], (y) => [rawCopy(y, x, x.viewOffset('slice', y.shape, view, 'i', start * st[axis]!))]);
}

export function lowerCudaConcat(n: Node, ctx: LowerContext): CudaKernel {
  const s = n.type.shape;
  const axis = axisAttr(n, 'axis', s.length);
  const inner = numel(s.slice(axis + 1));
  const xs = n.src.map((src, k) => cudaTensor(`x${k}`, src.type.dtype, src.type.shape, ctx.elem));
  return copyKernel(n, ctx, xs, (y) => {
    const lines = [
      `const unsigned inner = i % ${inner}u;`,
      `const unsigned c = (i / ${inner}u) % ${s[axis]}u;`,
      `const unsigned outer = i / ${inner * s[axis]!}u;`,
    ];
    let lo = 0;
    xs.forEach((x, k) => {
      const len = x.shape[axis]!;
      const cond = k === xs.length - 1 ? '' : `if (c < ${lo + len}u) `;
      lines.push(`${k ? 'else ' : ''}${cond}{ ${rawCopy(y, x, `(outer * ${len}u + c - ${lo}u) * ${inner}u + inner`)} }`);
      lo += len;
    });
    return lines;
  });
}

export function lowerCudaGather(n: Node, ctx: LowerContext): CudaKernel {
  const [xt, it] = [n.src[0]!.type, n.src[1]!.type];
  const axis = axisAttr(n, 'axis', xt.shape.length, 0);
  const size = xt.shape[axis]!;
  const inner = numel(xt.shape.slice(axis + 1));
  const count = numel(it.shape);
  const x = cudaTensor('x0', xt.dtype, xt.shape, ctx.elem);
  const idx = cudaTensor('x1', it.dtype, it.shape, ctx.elem);
  return copyKernel(n, ctx, [x, idx], (y) => [
    `const unsigned inner = i % ${inner}u;`,
    `const unsigned t = (i / ${inner}u) % ${count}u;`,
    `const unsigned outer = i / ${inner * count}u;`,
    // out-of-range indices are a graph bug; clamp (as the WGSL kernel does) so the kernel never reads outside x
    `const unsigned k = unsigned(min(max(int(${idx.load('t')}), 0), ${size - 1}));`,
    rawCopy(y, x, `(outer * ${size}u + k) * ${inner}u + inner`),
  ]);
}
