import { attr, type Node } from '../../../ir/node.ts';
import { numel } from '../../../ir/types.ts';
import { packedRowWords, type LowerContext } from '../../target.ts';
import { qgemmOperands } from '../../../runtime/reference-qdq.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { CUDA_OPS } from '../render.ts';
import { cudaTensor, type CudaTensor } from '../tensor-var.ts';

/**
 * qgemm (W4A8 / W4A6 / W4A4 / W8Ax) on INT8 tensor cores: `mma.sync.m16n8k32.row.col.s32.s8.s8.s32`. A6 and A4
 * activations are i8 values in a narrower range, so every precision takes the same s8 path. Each warp owns a
 * 16 × 16 output tile (two n8 MMAs), four warps a 32 × 32 block tile; fragments load straight from global memory
 * (packed i8 rows are whole words, so each A register is one aligned 32-bit load; each B register is four i4
 * nibbles widened to s8 in registers). Correct first: no shared-memory staging or pipelining yet.
 * Fragment layouts (PTX ISA, m16n8k32 .s8), with g = lane / 4, t = lane % 4:
 *   A regs 0..3: (row g, k 4t..4t+3), (row g+8, same k), (row g, k 16+4t..), (row g+8, k 16+4t..)
 *   B regs 0..1: (n g, k 4t..4t+3), (n g, k 16+4t..)
 *   C regs 0..3: (row g, n 2t), (row g, n 2t+1), (row g+8, n 2t), (row g+8, n 2t+1)
 */
export const QGEMM_MMA_TILE = { m: 32, n: 32, warps: 4 } as const;

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

/** The tensor-core step a k loop issues: its accumulator type and the helper of targets/cuda/header.ts or a prelude. */
export interface MmaStep {
  readonly acc: 'int' | 'float';
  readonly fn: string;
}

const MMA_S8: MmaStep = { acc: 'int', fn: 'vdit_mma_s8_16832' };

/**
 * The k loop: per 32-deep step one A fragment (four byte-words of xq) and two B fragments (n-tiles, words from
 * bWord), then two MMAs into c.
 */
export function mainLoop(M: number, N: number, K: number, K4: number, bWord: (k: string) => string, mma = MMA_S8): string[] {
  return [
    `${mma.acc} c[2][4] = {};`,
    `for (unsigned k0 = 0; k0 < ${K}u; k0 += 32u) {`,
    '  unsigned a[4];',
    '  for (int r = 0; r < 4; ++r) {',
    '    const unsigned m = m0 + g + 8u * (r & 1), k = k0 + 16u * (r >> 1) + 4u * t;',
    `    a[r] = (m < ${M}u && k < ${K}u) ? *reinterpret_cast<const unsigned*>(xq + m * ${K4}u + k) : 0u;`,
    '  }',
    '  for (int j = 0; j < 2; ++j) {',
    '    const unsigned n = n0 + 8u * j + g;',
    '    unsigned b[2];',
    '    for (int r = 0; r < 2; ++r) {',
    '      const unsigned k = k0 + 16u * r + 4u * t;',
    `      b[r] = (n < ${N}u && k < ${K}u) ? ${bWord('k')} : 0u;`,
    '    }',
    `    ${mma.fn}(c[j], a, b);`,
    '  }',
    '}',
  ];
}

/** The operands and shapes every qgemm variant binds: xq (bytes), dx, wq (words), dw, then b?, g?, r?, and y. */
/**
 * Each thread's two 16×8 accumulator fragments (c[j][r], m16n8 layout: rows g and g + 8, columns 2t and 2t + 1)
 * through the epilogue (`acc` in, `v` out) into y, skipping the rows and columns past M, N.
 */
export function fragmentStores(M: number, N: number, acc: 'int' | 'float', epi: readonly string[], y: CudaTensor): string[] {
  return [
    'for (int j = 0; j < 2; ++j) for (int r = 0; r < 4; ++r) {',
    '  const unsigned m = m0 + g + 8u * (r >> 1), n = n0 + 8u * j + 2u * t + (r & 1);',
    `  if (m >= ${M}u || n >= ${N}u) continue;`,
    `  const ${acc} acc = c[j][r];`,
    ...epi.map((l) => `  ${l}`),
    `  ${y.store(`m * ${N}u + n`, 'v')}`,
    '}',
  ];
}

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
  const out = n.type.shape;
  const ops = qgemmOperands(n, n.src.map((_, i) => i));
  const names = ['xq', 'dx', 'wq', 'dw'];
  if (ops.bias !== undefined) names[ops.bias] = 'bias';
  if (ops.gate !== undefined) names[ops.gate] = 'gate';
  if (ops.residual !== undefined) names[ops.residual] = 'res';
  const raw = (i: number): string | undefined => (i === 0 ? 'signed char' : i === 2 ? 'unsigned' : undefined);
  return {
    M: numel(xt.shape) / K, N, K,
    K4: packedRowWords('i8', K) * 4, KW: packedRowWords(wt.dtype, K),
    T: out.length >= 3 ? out[1]! : 1,
    vars: n.src.map((s, i) => cudaTensor(names[i]!, s.type.dtype, s.type.shape, ctx.elem, raw(i))),
    y: cudaTensor('y', n.type.dtype, out, ctx.elem),
    has: { bias: ops.bias !== undefined, gate: ops.gate !== undefined, residual: ops.residual !== undefined },
  };
}

export function lowerCudaQgemmMma(n: Node, ctx: LowerContext): CudaKernel {
  if (n.attrs['aformat'] === 'e4m3') throw new Error('cuda: e4m3 activations take the FP8 qgemm (qgemm-fp8.ts), not s8');
  const wt = n.src[2]!.type;
  const { M, N, K, K4, KW, T, vars, y, has } = mmaProblem(n, ctx);
  const { m: BM, n: BN, warps } = QGEMM_MMA_TILE;
  const [MT, NT] = [Math.ceil(M / BM), Math.ceil(N / BN)];
  // B register r of n-tile j: four k of weight row n, widened from nibbles (i4) or read as one word (i8)
  const bWord = wt.dtype === 'i4'
    ? (k: string): string => `vdit_i4x4_to_s8x4(wq[n * ${KW}u + (${k}) / 8u], int((${k}) % 8u) * 4)`
    : (k: string): string => `wq[n * ${KW}u + (${k}) / 4u]`;
  return buildCudaKernel({
    name: `qgemm_mma_w${wt.dtype === 'i4' ? 4 : 8}a${attr<number>(n, 'abits')}`,
    vars: [...vars, y], block: warps * 32, blocks: MT * NT,
    body: [
      `const unsigned nb = blk % ${NT}u, mb = blk / ${NT}u;`,
      'const unsigned warp = threadIdx.x / 32u, lane = threadIdx.x % 32u, g = lane / 4u, t = lane % 4u;',
      `const unsigned m0 = mb * ${BM}u + (warp / 2u) * 16u, n0 = nb * ${BN}u + (warp % 2u) * 16u;`,
      ...mainLoop(M, N, K, K4, bWord),
      ...fragmentStores(M, N, 'int', epilogue(n, N, T, has), y),
    ],
    flops: 2 * M * N * K,
  });
}
