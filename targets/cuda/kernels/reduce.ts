import { attr, type Node } from '../../../ir/node.ts';
import { normAxis, numel, strides } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaCast, cudaLiteral } from '../render.ts';
import { cudaTensor } from '../tensor-var.ts';

const ROW_BLOCK_MAX = 256;

/** Threads cooperating on one row: the next power of two at or above its length, a warp at least. */
export function rowBlock(len: number): number {
  let b = 32;
  while (b < len && b < ROW_BLOCK_MAX) b *= 2;
  return b;
}

/** A strided loop of this block's threads over `len` row elements. */
export function rowLoop(len: number, stmt: string, v = 'j'): string {
  return `for (unsigned ${v} = threadIdx.x; ${v} < ${len}u; ${v} += blockDim.x) { ${stmt} }`;
}

/**
 * reduce_sum / reduce_mean / reduce_max: float tensors one block per output (block reductions in the header),
 * integer tensors one thread per output (exact, wrapping i32 sums as the reference does).
 */
export function lowerCudaReduce(n: Node, ctx: LowerContext): CudaKernel {
  const xt = n.src[0]!.type;
  const s = xt.shape;
  const axes = new Set(attr<readonly number[]>(n, 'axes').map((a) => normAxis(a, s.length)!));
  const st = strides(s);
  const kept = s.map((_, i) => i).filter((i) => !axes.has(i));
  const red = s.map((_, i) => i).filter((i) => axes.has(i));
  const x = cudaTensor('x0', xt.dtype, s, ctx.elem);
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  if (x.value === 'bool') throw new Error(`cuda: no kernel for op ${n.op} on bool`);
  const R = numel(red.map((i) => s[i]!));
  const outs = numel(kept.map((i) => s[i]!));
  const base = x.viewOffset('kept', kept.map((i) => s[i]!), kept.map((i) => st[i]!), 'o');
  const at = `base + ${x.viewOffset('red', red.map((i) => s[i]!), red.map((i) => st[i]!), 'r')}`;
  const isMax = n.op === 'reduce_max';
  const acc = x.value;
  const fin = (v: string): string => (n.op === 'reduce_mean'
    ? cudaCast(`(float(${v}) / ${cudaLiteral(R, 'float')})`, 'float', y.dtype) : cudaCast(v, acc, y.dtype));
  if (acc === 'float') {
    const bs = rowBlock(R);
    const step = isMax ? `acc = fmaxf(acc, ${x.load(at)});` : `acc += ${x.load(at)};`;
    return buildCudaKernel({
      name: n.op, vars: [x, y], block: bs, blocks: outs,
      body: [
        'const unsigned o = blk;',
        `const unsigned base = ${base};`,
        `float acc = ${isMax ? '-VDIT_INF' : '0.0f'};`,
        rowLoop(R, step, 'r'),
        `const float total = ${isMax ? 'vdit_block_max(acc)' : 'vdit_block_sum(acc)'};`,
        `if (threadIdx.x == 0) ${y.store('o', fin('total'))}`,
      ],
    });
  }
  const lowest = acc === 'int' ? '(-2147483647 - 1)' : '0u';
  return buildCudaKernel({
    name: n.op, vars: [x, y], block: 64, blocks: Math.ceil(outs / 64),
    body: [
      'const unsigned o = blk * 64u + threadIdx.x;',
      `if (o >= ${outs}u) return;`,
      `const unsigned base = ${base};`,
      `${acc} acc = ${isMax ? lowest : cudaLiteral(0, acc)};`,
      `for (unsigned r = 0; r < ${R}u; ++r) { ${isMax ? `acc = max(acc, ${x.load(at)});` : `acc += ${x.load(at)};`} }`,
      y.store('o', fin('acc')),
    ],
  });
}
