import { attr, type Node } from '../../../ir/node.ts';
import { normAxis, numel, strides, type Shape } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaCast, cudaLiteral, type CudaValue } from '../render.ts';
import { cudaTensor, type CudaTensor } from '../tensor-var.ts';

const ROW_BLOCK_MAX = 256;
/** Threads of a block in the thread-per-output path. */
const THREAD_BLOCK = 64;
/** Floats in a 32-byte memory sector: neighbouring threads must span one for the thread path to use whole sectors. */
const SECTOR_FLOATS = 8;
/**
 * Fewest outputs for the float thread-per-output path. Each thread walks its R elements in order, a few loads ahead
 * (nvcc unrolls ~4), so about outs × 4 loads are in flight; the block path keeps the GPU full of loads but, reading
 * with a stride of a sector or more, moves 8× the bytes it uses. Equating outs × 4 × 4 B / latency with
 * bandwidth / 8 on an H100 (3.35 TB/s, ~600 ns) gives ~16k outputs. Both times grow linearly in R, so R does not
 * enter the rule: a huge R with fewer outputs than this stays on the block path.
 */
const THREAD_MIN_OUTS = 16384;

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

/** Elements contiguous in memory that share one output: the trailing kept extents, unit axes skipped. */
function keptRun(s: Shape, axes: ReadonlySet<number>): number {
  let run = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    if (s[i] === 1) continue;
    if (axes.has(i)) break;
    run *= s[i]!;
  }
  return run;
}

/** The statements shared by both paths: where an output's elements start, how one element folds into `acc`. */
interface ReduceParts {
  readonly acc: CudaValue;
  readonly outs: number;
  readonly R: number;
  /** offset of output o's first element, in terms of `o` */
  readonly base: string;
  /** fold element at `base + offset(r)` into acc */
  readonly step: string;
  readonly init: string;
  readonly vars: readonly CudaTensor[];
  readonly store: (v: string) => string;
}

/** One thread per output, a sequential loop over its R elements: coalesced whenever the innermost axis is kept. */
function threadPerOutput(name: string, p: ReduceParts): CudaKernel {
  return buildCudaKernel({
    name, vars: p.vars, block: THREAD_BLOCK, blocks: Math.ceil(p.outs / THREAD_BLOCK),
    body: [
      `const unsigned o = blk * ${THREAD_BLOCK}u + threadIdx.x;`,
      `if (o >= ${p.outs}u) return;`,
      `const unsigned base = ${p.base};`,
      `${p.acc} acc = ${p.init};`,
      `for (unsigned r = 0; r < ${p.R}u; ++r) { ${p.step} }`,
      p.store('acc'),
    ],
  });
}

/** One block per output, its threads striding over the R elements, then a block reduction (floats only). */
function blockPerOutput(name: string, p: ReduceParts, isMax: boolean): CudaKernel {
  // vdit_block_max combines with fmaxf, which drops NaN; the reference propagates it, so a NaN anywhere wins
  const total = isMax ? [
    'const float m = vdit_block_max(acc);',
    'const float total = vdit_block_sum(acc != acc ? 1.0f : 0.0f) > 0.0f ? VDIT_NAN : m;',
  ] : ['const float total = vdit_block_sum(acc);'];
  return buildCudaKernel({
    name, vars: p.vars, block: rowBlock(p.R), blocks: p.outs,
    body: [
      'const unsigned o = blk;',
      `const unsigned base = ${p.base};`,
      `float acc = ${p.init};`,
      rowLoop(p.R, p.step, 'r'),
      ...total,
      `if (threadIdx.x == 0) ${p.store('total')}`,
    ],
  });
}

/**
 * reduce_sum / reduce_mean / reduce_max. Integer tensors always take one thread per output (exact, wrapping i32
 * sums as the reference does). Float tensors pick by memory layout:
 * - one thread per output with a sequential loop, accumulating in float, when at least a sector of contiguous
 *   elements belongs to different outputs (the innermost non-unit axis is kept, SECTOR_FLOATS) and there are at
 *   least THREAD_MIN_OUTS outputs: neighbouring threads then read neighbouring addresses (coalesced). The token
 *   pooling of passes/prune-online.ts, reduce_mean over `tile` of [B, H, KT, tile, D], is this case; one block per
 *   output there read a different cache line per thread, 8× the useful traffic;
 * - otherwise one block per output, threads striding over the reduced elements and a block reduction: coalesced
 *   for row reductions (innermost axis reduced), and for few outputs it keeps enough loads in flight.
 * reduce_max follows the reference on NaN in both paths: a NaN among the reduced elements gives NaN.
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
  const acc = x.value;
  const R = numel(red.map((i) => s[i]!));
  const outs = numel(kept.map((i) => s[i]!));
  const at = `base + ${x.viewOffset('red', red.map((i) => s[i]!), red.map((i) => st[i]!), 'r')}`;
  const isMax = n.op === 'reduce_max';
  const fin = (v: string): string => (n.op === 'reduce_mean'
    ? cudaCast(`(float(${v}) / ${cudaLiteral(R, 'float')})`, 'float', y.dtype) : cudaCast(v, acc, y.dtype));
  // float max as the reference compares: v > acc keeps the first of equal values, and a NaN sticks once seen
  const maxStep = acc === 'float'
    ? `{ const float v = ${x.load(at)}; if (v > acc || v != v) acc = v; }` : `acc = max(acc, ${x.load(at)});`;
  const lowest = acc === 'float' ? '-VDIT_INF' : acc === 'int' ? '(-2147483647 - 1)' : '0u';
  const parts: ReduceParts = {
    acc, outs, R, vars: [x, y],
    base: x.viewOffset('kept', kept.map((i) => s[i]!), kept.map((i) => st[i]!), 'o'),
    step: isMax ? maxStep : `acc += ${x.load(at)};`,
    init: isMax ? lowest : cudaLiteral(0, acc),
    store: (v) => y.store('o', fin(v)),
  };
  const byThread = acc !== 'float' || (keptRun(s, axes) >= SECTOR_FLOATS && outs >= THREAD_MIN_OUTS);
  return byThread ? threadPerOutput(n.op, parts) : blockPerOutput(n.op, parts, isMax);
}
