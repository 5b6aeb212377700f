/**
 * The block-tiled k loop both tensor-core qgemms share (s8: qgemm-mma.ts, e4m3: qgemm-fp8.ts), the standard
 * Ampere/Hopper mma.sync GEMM: a block tile of x rows and weight rows moves through shared memory in k-chunks of 64
 * (x: 64 bytes a row; i4 weights: 32 bytes, i8: 64) over a `cp.async` pipeline of STAGES buffers, and each warp
 * runs its warp tile's m16n8k32 MMAs from shared memory. Copies past M, N or a row's padded end zero-fill.
 *
 * k order: an MMA sums over its 32 k, so any permutation of k applied to A and B alike leaves the sum as it is. Lane
 * (g, t) takes the 16 consecutive k 16t..16t+15 of a chunk: A rows g and g + 8 as one 16-byte shared load each, B
 * (weight row g) as 8 bytes of nibbles (i4) or 16 bytes (i8); MMA step s ∈ {0, 1} gives A register r and B
 * register r the k 16t + 8s + 4·(r>>1 for A, r for B) .. +3, so every register is a whole word and the int4 widening
 * takes 4 consecutive nibbles. Those loads have no bank conflicts without padding or swizzle: a quarter warp
 * (16-byte loads) reads rows g, g + 1 whole (128 contiguous bytes), a half warp (8-byte loads) four 32-byte rows.
 */
import type { DType } from '../../../ir/dtype.ts';

/** A block tile and its warps (warps in a warpsM × warpsN grid, each (m / warpsM) × (n / warpsN)). */
export interface QgemmTile {
  readonly m: number;
  readonly n: number;
  readonly warpsM: number;
  readonly warpsN: number;
}

/** 128 × 128 (8 warps of 64 × 32) for large problems; 64 × 64 (4 warps of 32 × 32) when the grid would be small. */
export const QGEMM_TILES = {
  large: { m: 128, n: 128, warpsM: 2, warpsN: 4 },
  small: { m: 64, n: 64, warpsM: 2, warpsN: 2 },
} as const satisfies Record<string, QgemmTile>;

/** Streaming multiprocessors of the cards we tune for (H100 SXM, H200): fewer large tiles than this idle SMs. */
export const CUDA_SMS = 132;

/** The large tile when it still fills every SM once, else the small one. */
export function qgemmTile(M: number, N: number): QgemmTile {
  const { large, small } = QGEMM_TILES;
  return Math.ceil(M / large.m) * Math.ceil(N / large.n) >= CUDA_SMS ? large : small;
}

/** The tensor-core step a k loop issues: its accumulator type, the MMA helper and the i4 → 4-lane widening. */
export interface MmaStep {
  readonly acc: 'int' | 'float';
  readonly fn: string;
  /** `widen(word, shift)`: 4 nibbles from bit `shift` of a weight word as 4 operand bytes */
  readonly widen: string;
}

/** What the loop reads: M × K x bytes in rows of K4, N weight rows of KW words (i4 or i8). */
export interface PipelineShape {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly K4: number;
  readonly KW: number;
  readonly wdtype: DType;
}

/** k per shared-memory chunk and the static shared-memory budget (no cudaFuncSetAttribute needed under it). */
const KC = 64;
const SMEM = 48 * 1024;
const MAX_STAGES = 4;

/** The widest cp.async (16, 8 or 4 bytes) that tiles a row: chunks never straddle rows and stay aligned. */
const copyBytes = (rowBytes: number): number => (rowBytes % 16 === 0 ? 16 : rowBytes % 8 === 0 ? 8 : 4);

export interface TileLayout {
  readonly threads: number;
  /** m16 and n8 MMA tiles per warp */
  readonly mi: number;
  readonly ni: number;
  readonly stages: number;
  /** weight bytes per row and chunk */
  readonly bRow: number;
}

export function tileLayout(tile: QgemmTile, wdtype: DType): TileLayout {
  const bRow = wdtype === 'i4' ? KC / 2 : KC;
  const stageBytes = tile.m * KC + tile.n * bRow;
  return {
    threads: 32 * tile.warpsM * tile.warpsN,
    mi: tile.m / tile.warpsM / 16, ni: tile.n / tile.warpsN / 8,
    stages: Math.min(MAX_STAGES, Math.floor(SMEM / stageBytes)),
    bRow,
  };
}

/** Block and warp coordinates: m0, n0 (the warp tile's first output row and column), wm, wn (inside the block), g, t. */
export function tileCoordinates(tile: QgemmTile, N: number): string[] {
  const NT = Math.ceil(N / tile.n);
  return [
    `const unsigned nb = blk % ${NT}u, mb = blk / ${NT}u;`,
    'const unsigned warp = threadIdx.x / 32u, lane = threadIdx.x % 32u, g = lane / 4u, t = lane % 4u;',
    `const unsigned wm = (warp / ${tile.warpsN}u) * ${tile.m / tile.warpsM}u, wn = (warp % ${tile.warpsN}u) * ${tile.n / tile.warpsN}u;`,
    `const unsigned m0 = mb * ${tile.m}u + wm, n0 = nb * ${tile.n}u + wn;`,
  ];
}

/** Lines issuing one chunk's copies (chunk `kc`, stage `st`: C expressions) and nothing else. */
function chunkCopies(p: PipelineShape, tile: QgemmTile, l: TileLayout, st: string, kc: string): string[] {
  const [VA, VB] = [copyBytes(p.K4), copyBytes(p.KW * 4)];
  const copies = (rows: number, rowBytes: number, V: number, lim: number, rowsLim: number, base: string,
    src: string, dst: string): string[] => {
    const per = rowBytes / V;
    return [
      '#pragma unroll',
      `for (unsigned i = threadIdx.x; i < ${rows * per}u; i += ${l.threads}u) {`,
      `  const unsigned r = i / ${per}u, e = ${base} + r, k = (${kc}) * ${rowBytes}u + (i % ${per}u) * ${V}u;`,
      `  const bool ok = e < ${rowsLim}u && k < ${lim}u;`,
      `  vdit_cp_async<${V}>(reinterpret_cast<unsigned char*>(${dst}[${st}]) + r * ${rowBytes}u + (i % ${per}u) * ${V}u,`,
      `                    ${src} + (ok ? e * ${lim}u + k : 0u), ok);`,
      '}',
    ];
  };
  return [
    ...copies(tile.m, KC, VA, p.K4, p.M, `mb * ${tile.m}u`, 'xq', 'sa'),
    ...copies(tile.n, l.bRow, VB, p.KW * 4, p.N, `nb * ${tile.n}u`, 'reinterpret_cast<const unsigned char*>(wq)', 'sb'),
  ];
}

/** One stage's MMAs: each warp's B fragments (widened once), then per m16 tile its A fragments and the n8 MMAs. */
function chunkMmas(p: PipelineShape, l: TileLayout, mma: MmaStep, st: string): string[] {
  const bLoad = p.wdtype === 'i4'
    ? [
      `  const uint2 w = *reinterpret_cast<const uint2*>(bs + (wn + 8u * j + g) * ${l.bRow}u + 8u * t);`,
      `  b[j][0][0] = ${mma.widen}(w.x, 0); b[j][0][1] = ${mma.widen}(w.x, 16);`,
      `  b[j][1][0] = ${mma.widen}(w.y, 0); b[j][1][1] = ${mma.widen}(w.y, 16);`,
    ]
    : [
      `  const uint4 w = *reinterpret_cast<const uint4*>(bs + (wn + 8u * j + g) * ${l.bRow}u + 16u * t);`,
      '  b[j][0][0] = w.x; b[j][0][1] = w.y; b[j][1][0] = w.z; b[j][1][1] = w.w;',
    ];
  return [
    `const unsigned char* as = reinterpret_cast<const unsigned char*>(sa[${st}]);`,
    `const unsigned char* bs = reinterpret_cast<const unsigned char*>(sb[${st}]);`,
    `unsigned b[${l.ni}][2][2];`,
    '#pragma unroll',
    `for (unsigned j = 0; j < ${l.ni}u; ++j) {`,
    ...bLoad,
    '}',
    '#pragma unroll',
    `for (unsigned i = 0; i < ${l.mi}u; ++i) {`,
    `  const uint4 lo = *reinterpret_cast<const uint4*>(as + (wm + 16u * i + g) * ${KC}u + 16u * t);`,
    `  const uint4 hi = *reinterpret_cast<const uint4*>(as + (wm + 16u * i + g + 8u) * ${KC}u + 16u * t);`,
    '  const unsigned a0[4] = {lo.x, hi.x, lo.y, hi.y}, a1[4] = {lo.z, hi.z, lo.w, hi.w};',
    '#pragma unroll',
    `  for (unsigned j = 0; j < ${l.ni}u; ++j) {`,
    `    ${mma.fn}(c[i][j], a0, b[j][0]);`,
    `    ${mma.fn}(c[i][j], a1, b[j][1]);`,
    '  }',
    '}',
  ];
}

/**
 * The pipelined k loop into `c[mi][ni][4]`: STAGES − 1 chunks in flight ahead of the one computed. Per chunk: wait
 * for its copies, a barrier (they become the block's, and every warp is done with the stage refilled next), issue
 * chunk kc + STAGES − 1 into that stage, then the MMAs. Needs tileCoordinates' names.
 */
export function pipelinedMainLoop(p: PipelineShape, tile: QgemmTile, mma: MmaStep): string[] {
  const l = tileLayout(tile, p.wdtype);
  const S = l.stages;
  const chunks = Math.max(1, Math.ceil(p.K / KC));
  const indent = (lines: readonly string[], pad: string): string[] => lines.map((x) => (x.startsWith('#') ? x : pad + x));
  return [
    `__shared__ uint4 sa[${S}][${(tile.m * KC) / 16}];`,
    `__shared__ uint4 sb[${S}][${(tile.n * l.bRow) / 16}];`,
    `${mma.acc} c[${l.mi}][${l.ni}][4] = {};`,
    `for (unsigned s = 0; s < ${S - 1}u; ++s) {`,
    `  if (s < ${chunks}u) {`,
    ...indent(chunkCopies(p, tile, l, 's', 's'), '    '),
    '  }',
    '  vdit_cp_async_commit();',
    '}',
    `for (unsigned kc = 0; kc < ${chunks}u; ++kc) {`,
    `  vdit_cp_async_wait<${S - 2}>();`,
    '  __syncthreads();',
    `  if (kc + ${S - 1}u < ${chunks}u) {`,
    ...indent(chunkCopies(p, tile, l, `(kc + ${S - 1}u) % ${S}u`, `kc + ${S - 1}u`), '    '),
    '  }',
    '  vdit_cp_async_commit();',
    ...indent(chunkMmas(p, l, mma, `kc % ${S}u`), '  '),
    '}',
  ];
}
