import { attr, type Node } from '../../../ir/node.ts';
import { numel } from '../../../ir/types.ts';
import { packedRowWords, type LowerContext } from '../../target.ts';
import { qgemmOperands } from '../../../runtime/reference-qdq.ts';
import { buildCudaKernel, type CudaKernel, type CudaKernelParts } from '../kernel.ts';
import { CUDA_OPS } from '../render.ts';
import { cudaTensor, type CudaTensor } from '../tensor-var.ts';
import { pipelinedMainLoop, qgemmTile, tileCoordinates, tileLayout, type MmaStep, type QgemmTile } from './qgemm-pipeline.ts';

/**
 * qgemm (W4A8 / W4A6 / W4A4 / W8Ax) on INT8 tensor cores: `mma.sync.m16n8k32.row.col.s32.s8.s8.s32`. A6 and A4
 * activations are i8 values in a narrower range, so every precision takes the same s8 path. The k loop is
 * qgemm-pipeline.ts's (block tiles through a cp.async shared-memory pipeline; i4 weights widened to s8 in registers
 * after the shared-memory read); the tile is qgemmTile's unless a caller (tests, benchmarks) names one.
 * Fragment layouts (PTX ISA, m16n8k32 .s8), with g = lane / 4, t = lane % 4:
 *   A regs 0..3: (row g, k 4t..4t+3), (row g+8, same k), (row g, k 16+4t..), (row g+8, k 16+4t..)
 *   B regs 0..1: (n g, k 4t..4t+3), (n g, k 16+4t..)
 *   C regs 0..3: (row g, n 2t), (row g, n 2t+1), (row g+8, n 2t), (row g+8, n 2t+1)
 */
/** Lines turning the accumulator `acc` of output (m, n) into `v` (scales, bias, act, gate, residual). */
export function epilogue(n: Node, N: number, T: number, has: { bias: boolean; gate: boolean; residual: boolean }): string[] {
  const act = attr<string>(n, 'act', 'none');
  if (!['none', 'gelu_tanh', 'gelu_erf'].includes(act)) throw new Error(`cuda: qgemm act must be none|gelu_tanh|gelu_erf, got ${act}`);
  // __fmul_rn / __fadd_rn: no FMA contraction, so each step rounds as the reference's f32 step does
  const lines = ['float v = __fmul_rn(__fmul_rn(float(acc), dx[m]), dw[n]);'];
  if (has.bias) lines.push('v = __fadd_rn(v, bias[n]);');
  if (act !== 'none') lines.push(`v = ${CUDA_OPS['gelu']!(['v'], 'float', { approx: act === 'gelu_tanh' ? 'tanh' : 'none' })};`);
  if (has.gate) lines.push(`v = __fmul_rn(v, gate[(m / ${T}u) * ${N}u + n]);`);
  if (has.residual) lines.push(`v = __fadd_rn(res[m * ${N}u + n], v);`);
  return lines;
}

const MMA_S8: MmaStep = { acc: 'int', fn: 'vdit_mma_s8_16832', widen: 'vdit_i4x4_to_s8x4' };

/**
 * Each thread's mi × ni 16×8 accumulator fragments (c[i][j][r], m16n8 layout: rows g and g + 8, columns 2t and
 * 2t + 1 of the warp tile's m16 tile i and n8 tile j) through the epilogue (`acc` in, `v` out) into y, skipping the
 * rows and columns past M, N.
 */
export function fragmentStores(M: number, N: number, acc: 'int' | 'float', epi: readonly string[], y: CudaTensor,
  { mi, ni }: { mi: number; ni: number }): string[] {
  return [
    // unrolled: c stays in registers
    '#pragma unroll',
    `for (unsigned i = 0; i < ${mi}u; ++i)`,
    '#pragma unroll',
    `for (unsigned j = 0; j < ${ni}u; ++j)`,
    '#pragma unroll',
    'for (int r = 0; r < 4; ++r) {',
    '  const unsigned m = m0 + 16u * i + g + 8u * (r >> 1), n = n0 + 8u * j + 2u * t + (r & 1);',
    `  if (m >= ${M}u || n >= ${N}u) continue;`,
    `  const ${acc} acc = c[i][j][r];`,
    ...epi.map((l) => `  ${l}`),
    `  ${y.store(`m * ${N}u + n`, 'v')}`,
    '}',
  ];
}

/** The operands and shapes every qgemm variant binds: xq (bytes), dx, wq (words), dw, then b?, g?, r?, and y. */
export interface MmaProblem {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** bytes per padded x row; words per weight row */
  readonly K4: number;
  readonly KW: number;
  /** tokens per sample (gate rows) */
  readonly T: number;
  readonly vars: readonly CudaTensor[];
  readonly y: CudaTensor;
  readonly has: { bias: boolean; gate: boolean; residual: boolean };
}

export function mmaProblem(n: Node, ctx: LowerContext): MmaProblem {
  const [xt, , wt] = [n.src[0]!.type, n.src[1]!.type, n.src[2]!.type];
  if (xt.dtype !== 'i8') throw new Error(`cuda: qgemm activations must be i8, got ${xt.dtype}`);
  if (wt.dtype !== 'i4' && wt.dtype !== 'i8') throw new Error(`cuda: qgemm weights must be i4 or i8, got ${wt.dtype}`);
  const [N, K] = wt.shape as [number, number];
  const M = numel(xt.shape) / K;
  // element offsets are 32-bit unsigned in the kernels
  if (M * packedRowWords('i8', K) * 4 >= 2 ** 32 || N * M >= 2 ** 32) {
    throw new Error(`cuda: qgemm of ${M} × ${N} × ${K} overflows the kernels' 32-bit offsets: split the tokens`);
  }
  const out = n.type.shape;
  const ops = qgemmOperands(n, n.src.map((_, i) => i));
  const names = ['xq', 'dx', 'wq', 'dw'];
  if (ops.bias !== undefined) names[ops.bias] = 'bias';
  if (ops.gate !== undefined) names[ops.gate] = 'gate';
  if (ops.residual !== undefined) names[ops.residual] = 'res';
  const raw = (i: number): string | undefined => (i === 0 ? 'signed char' : i === 2 ? 'unsigned' : undefined);
  return {
    M, N, K,
    K4: packedRowWords('i8', K) * 4, KW: packedRowWords(wt.dtype, K),
    T: out.length >= 3 ? out[1]! : 1,
    vars: n.src.map((s, i) => cudaTensor(names[i]!, s.type.dtype, s.type.shape, ctx.elem, raw(i))),
    y: cudaTensor('y', n.type.dtype, out, ctx.elem),
    has: { bias: ops.bias !== undefined, gate: ops.gate !== undefined, residual: ops.residual !== undefined },
  };
}

/**
 * The kernel parts of a tiled qgemm (the s8 and e4m3 variants differ only in `mma` and the name): one block per
 * output tile, the pipelined k loop, then each thread's fragments through the epilogue.
 */
export function tiledQgemm(n: Node, p: MmaProblem, tile: QgemmTile, mma: MmaStep, name: string, prelude: readonly string[] = []):
CudaKernelParts {
  const wdtype = n.src[2]!.type.dtype;
  const l = tileLayout(tile, wdtype);
  return {
    name, vars: [...p.vars, p.y], block: l.threads, blocks: Math.ceil(p.M / tile.m) * Math.ceil(p.N / tile.n), prelude,
    body: [
      ...tileCoordinates(tile, p.N),
      ...pipelinedMainLoop({ ...p, wdtype }, tile, mma),
      ...fragmentStores(p.M, p.N, mma.acc, epilogue(n, p.N, p.T, p.has), p.y, l),
    ],
    flops: 2 * p.M * p.N * p.K,
  };
}

/** `tile`: qgemmTile's choice for the shape unless given (tests run both tiles on small shapes). */
export function lowerCudaQgemmMma(n: Node, ctx: LowerContext, tile?: QgemmTile): CudaKernel {
  if (n.attrs['aformat'] === 'e4m3') throw new Error('cuda: e4m3 activations take the FP8 qgemm (qgemm-fp8.ts), not s8');
  const p = mmaProblem(n, ctx);
  const name = `qgemm_mma_w${n.src[2]!.type.dtype === 'i4' ? 4 : 8}a${attr<number>(n, 'abits')}`;
  return buildCudaKernel(tiledQgemm(n, p, tile ?? qgemmTile(p.M, p.N), MMA_S8, name));
}
