import { attr, type Node } from '../../../ir/node.ts';
import { normAxis, numel } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaLiteral } from '../render.ts';
import { cudaTensor } from '../tensor-var.ts';
import { rowBlock, rowLoop } from './reduce.ts';

/** The two-pass row statistics of layernorm / rmsnorm as lines defining `mean` and `inv` (block-wide). */
export function normStats(rms: boolean, D: number, eps: number, load: (d: string) => string): string[] {
  const n = cudaLiteral(D, 'float');
  return [
    ...(rms ? ['const float mean = 0.0f;'] : [
      'float s = 0.0f;', rowLoop(D, `s += ${load('d')};`, 'd'), `const float mean = vdit_block_sum(s) / ${n};`,
    ]),
    'float q = 0.0f;',
    rowLoop(D, `const float t = ${load('d')} - mean; q += t * t;`, 'd'),
    `const float inv = 1.0f / sqrtf(vdit_block_sum(q) / ${n} + ${cudaLiteral(eps, 'float')});`,
  ];
}

/** layernorm / rmsnorm over the last axis: one block per row, two-pass statistics in f32. */
export function lowerCudaNorm(n: Node, ctx: LowerContext): CudaKernel {
  const shape = n.type.shape;
  const D = shape[shape.length - 1]!;
  const x = cudaTensor('x0', n.src[0]!.type.dtype, shape, ctx.elem);
  const params = n.src.slice(1).map((s, i) => cudaTensor(`x${i + 1}`, s.type.dtype, s.type.shape, ctx.elem));
  const [w, b] = params;
  const y = cudaTensor('y', n.type.dtype, shape, ctx.elem);
  let out = '(v - mean) * inv';
  if (w) out = `${out} * ${w.load('d')}`;
  if (b) out = `${out} + ${b.load('d')}`;
  return buildCudaKernel({
    name: n.op, vars: [x, ...params, y], block: rowBlock(D), blocks: x.numel / D,
    body: [
      `const unsigned base = blk * ${D}u;`,
      ...normStats(n.op === 'rmsnorm', D, attr<number>(n, 'eps'), (d) => x.load(`base + ${d}`)),
      rowLoop(D, `const float v = ${x.load('base + d')}; ${y.store('base + d', out)}`, 'd'),
    ],
  });
}

/** softmax over any axis: one block per row (elements `inner` apart), max then sum in f32. */
export function lowerCudaSoftmax(n: Node, ctx: LowerContext): CudaKernel {
  const s = n.type.shape;
  const axis = normAxis(attr<number>(n, 'axis', -1), s.length);
  if (axis === undefined) throw new Error('cuda: softmax axis out of range');
  const [len, inner] = [s[axis]!, numel(s.slice(axis + 1))];
  const x = cudaTensor('x0', n.src[0]!.type.dtype, s, ctx.elem);
  const y = cudaTensor('y', n.type.dtype, s, ctx.elem);
  const at = `base + j * ${inner}u`;
  return buildCudaKernel({
    name: 'softmax', vars: [x, y], block: rowBlock(len), blocks: x.numel / len,
    body: [
      `const unsigned base = (blk / ${inner}u) * ${len * inner}u + blk % ${inner}u;`,
      'float m = -VDIT_INF;',
      rowLoop(len, `m = fmaxf(m, ${x.load(at)});`),
      'const float mx = vdit_block_max(m);',
      'float s = 0.0f;',
      rowLoop(len, `s += expf(${x.load(at)} - mx);`),
      'const float inv = 1.0f / vdit_block_sum(s);',
      rowLoop(len, y.store(at, `expf(${x.load(at)} - mx) * inv`)),
    ],
  });
}
