import type { Node } from '../../../ir/node.ts';
import { numel } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import { broadcastStrides } from '../../wgsl/tensor-var.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaTensor, type CudaTensor } from '../tensor-var.ts';

/** Block tile (rows × cols), its k depth, and threads (16 × 16, each a strided 4 × 4 of the tile). */
export const GEMM_TILE = { m: 64, n: 64, k: 16, threads: 256 } as const;

interface GemmParts {
  readonly name: string;
  readonly vars: readonly CudaTensor[];
  readonly batches: number;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** lines defining `aOff` / `bOff` (element offsets of this batch's A and B) from `bt` */
  readonly batchOffsets: readonly string[];
  /** A[m][k], B[k][n] reads relative to the batch offsets */
  readonly aAt: (m: string, k: string) => string;
  readonly bAt: (k: string, n: string) => string;
  /** true when B's k is its fastest axis (linear's w[N, K]): the tile load then walks k first */
  readonly bKFastest: boolean;
  readonly epilogue: (v: string, m: string, n: string) => string;
}

/** A plain shared-memory tiled f32 GEMM: correct first; tensor-core (mma) FP paths are a later slice. */
function tiledGemm(p: GemmParts): CudaKernel {
  const { m: BM, n: BN, k: BK, threads } = GEMM_TILE;
  const [MT, NT] = [Math.ceil(p.M / BM), Math.ceil(p.N / BN)];
  const bLoad = p.bKFastest
    ? ['const unsigned kk = l % 16u, nn = l / 16u;']
    : ['const unsigned nn = l % 64u, kk = l / 64u;'];
  const store = p.epilogue('acc[i][j]', 'm', 'n');
  const bt = p.batches > 1 ? [`const unsigned bt = blk / ${MT * NT}u;`] : [];
  return buildCudaKernel({
    name: p.name, vars: p.vars, block: threads, blocks: p.batches * MT * NT,
    body: [
      `const unsigned nb = blk % ${NT}u, mb = (blk / ${NT}u) % ${MT}u;`,
      ...bt,
      'const unsigned tx = threadIdx.x % 16u, ty = threadIdx.x / 16u;',
      ...p.batchOffsets,
      `__shared__ float As[${BK}][${BM + 1}];`,
      `__shared__ float Bs[${BK}][${BN + 1}];`,
      'float acc[4][4] = {};',
      `for (unsigned k0 = 0; k0 < ${p.K}u; k0 += ${BK}u) {`,
      `  for (unsigned l = threadIdx.x; l < ${BK * BM}u; l += ${threads}u) {`,
      '    const unsigned kk = l % 16u, mm = l / 16u, m = mb * 64u + mm, k = k0 + kk;',
      `    As[kk][mm] = (m < ${p.M}u && k < ${p.K}u) ? ${p.aAt('m', 'k')} : 0.0f;`,
      '  }',
      `  for (unsigned l = threadIdx.x; l < ${BK * BN}u; l += ${threads}u) {`,
      `    ${bLoad[0]}`,
      '    const unsigned n = nb * 64u + nn, k = k0 + kk;',
      `    Bs[kk][nn] = (n < ${p.N}u && k < ${p.K}u) ? ${p.bAt('k', 'n')} : 0.0f;`,
      '  }',
      '  __syncthreads();',
      `  #pragma unroll`,
      `  for (unsigned kk = 0; kk < ${BK}u; ++kk) {`,
      '    float a[4], b[4];',
      '    for (int i = 0; i < 4; ++i) { a[i] = As[kk][ty + 16 * i]; b[i] = Bs[kk][tx + 16 * i]; }',
      '    for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);',
      '  }',
      '  __syncthreads();',
      '}',
      'for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) {',
      '  const unsigned m = mb * 64u + ty + 16u * i, n = nb * 64u + tx + 16u * j;',
      `  if (m < ${p.M}u && n < ${p.N}u) ${store}`,
      '}',
    ],
    flops: 2 * p.batches * p.M * p.N * p.K,
  });
}

/** linear(x[..., K], w[N, K], b?[N]) = x wᵀ + b. */
export function lowerCudaLinear(n: Node, ctx: LowerContext): CudaKernel {
  const [xt, wt] = [n.src[0]!.type, n.src[1]!.type];
  const K = xt.shape[xt.shape.length - 1]!;
  const N = wt.shape[0]!;
  const M = numel(xt.shape) / K;
  const vars = n.src.map((s, i) => cudaTensor(`x${i}`, s.type.dtype, s.type.shape, ctx.elem));
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const bias = vars[2];
  return tiledGemm({
    name: 'linear', vars: [...vars, y], batches: 1, M, N, K, batchOffsets: [],
    aAt: (m, k) => `x0[${m} * ${K}u + ${k}]`,
    bAt: (k, nn) => `x1[${nn} * ${K}u + ${k}]`,
    bKFastest: true,
    epilogue: (v, m, nn) => y.store(`${m} * ${N}u + ${nn}`, bias ? `${v} + ${bias.load(nn)}` : v),
  });
}

/** matmul(a[..., M, K], b[..., K, N]) with broadcast batch dims. */
export function lowerCudaMatmul(n: Node, ctx: LowerContext): CudaKernel {
  const [at, bt] = [n.src[0]!.type, n.src[1]!.type];
  const out = n.type.shape;
  const [M, N] = [out[out.length - 2]!, out[out.length - 1]!];
  const K = at.shape[at.shape.length - 1]!;
  const batch = out.slice(0, -2);
  const [a, b] = [at, bt].map((t, i) => cudaTensor(`x${i}`, t.dtype, t.shape, ctx.elem)) as [CudaTensor, CudaTensor];
  const y = cudaTensor('y', n.type.dtype, out, ctx.elem);
  const batches = numel(batch);
  const off = (t: CudaTensor, mat: number): string => {
    const st = broadcastStrides(t.shape.slice(0, -2), batch).map((s) => s * mat);
    return batches > 1 ? t.viewOffset('batch', batch, st, 'bt') : '0u';
  };
  return tiledGemm({
    name: 'matmul', vars: [a, b, y], batches, M, N, K,
    batchOffsets: [`const unsigned aOff = ${off(a, M * K)}, bOff = ${off(b, K * N)};`],
    aAt: (m, k) => `x0[aOff + ${m} * ${K}u + ${k}]`,
    bAt: (k, nn) => `x1[bOff + ${k} * ${N}u + ${nn}]`,
    bKFastest: false,
    epilogue: (v, m, nn) => y.store(`${batches > 1 ? `bt * ${M * N}u + ` : ''}${m} * ${N}u + ${nn}`, v),
  });
}
