import { keyTiles } from '../../../ir/infer-sparse-attention.ts';
import {
  forcedTiles, rangeTiles, selectedTiles, tileSelectAttrs, tileSelectKeys, tileSelectQueryTile,
} from '../../../ir/infer-tile-select.ts';
import type { Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaLiteral, cudaScheduleRow } from '../render.ts';
import { cudaTensor } from '../tensor-var.ts';

/** Threads per block, and per key tile while scoring (they split its keys, then sum in a fixed order). */
const BLOCK = 128;
const LANES = 8;

/**
 * tile_select{tile, keep, keepFirst, scale}(q, k) → i32[B, H, QT, T'], the CUDA twin of targets/wgsl/kernels/
 * tile-select.ts: one block per (batch, head, query tile of qtile rows, default tile); q̄ in shared memory,
 * s_j = scale·(Σ_r q̄·k_r)/|tile j| with LANES threads per key tile, then a rank count keeps the forced tiles and the
 * best others (ties → lower index) and writes them ascending. Shared memory is static: 4·(D + BLOCK + 2·KT) bytes
 * ≤ 48 KiB. The scheduled form (t: f[B]) keeps the count of its batch's range (uniform per block) and pads the rest
 * of its row with −1; a range of count 0 writes −1 only and returns before scoring. The pooled form (attribute
 * keys, operand k̄[B, H, KT, D]) scores s_j = scale·q̄·k̄_j from one row of k̄ per tile, its LANES threads splitting
 * the columns: QT·KT rows of k̄ read per head instead of QT·Nk of k.
 */
export function lowerCudaTileSelect(n: Node, ctx: LowerContext): CudaKernel {
  const [B, H, Nq, D] = n.src[0]!.type.shape as [number, number, number, number];
  const a = tileSelectAttrs(n.attrs);
  const Nk = tileSelectKeys(n.src[1]!.type, a);
  // query tiles of QR rows (qtile, default tile); key tiles of T = tile keys
  const QR = tileSelectQueryTile(a);
  const [QT, KT, KEEP] = [keyTiles(Nq, QR), keyTiles(Nk, a.tile), selectedTiles(Nk, a)];
  const FORCED = forcedTiles(Nk, a.tile, a.keepFirst);
  if (4 * (D + BLOCK + 2 * KT) > 48 * 1024) {
    throw new Error(`cuda: tile_select over ${KT} key tiles (head dim ${D}) exceeds 48 KiB of shared memory: use a larger tile`);
  }
  const q = cudaTensor('q', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const k = cudaTensor('k', n.src[1]!.type.dtype, n.src[1]!.type.shape, ctx.elem);
  const t = n.src[2] && cudaTensor('t', n.src[2].type.dtype, n.src[2].type.shape, ctx.elem);
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const T = a.tile;
  const counts = rangeTiles(Nk, a);
  const bounds = a.schedule?.bounds ?? [];
  // the scheduled form: the block's batch (bh / H) reads its range (bounds rounded up to f32: an exact comparison)
  const row = cudaScheduleRow('tb', bounds);
  const pick = counts.slice(1).reduce((e, c, r) => `srow == ${r + 1}u ? ${c}u : ${e}`, `${counts[0]}u`);
  // a range keeping fewer than T' tiles pads its row with −1 (sparse_attention skips it)
  const pad = `for (unsigned p = keep + threadIdx.x; p < ${KEEP}u; p += ${BLOCK}u) ` +
    y.store(`(bh * ${QT}u + qt) * ${KEEP}u + p`, '-1');
  const keep = !t ? [] : [
    ...(bounds.length ? [`const float tb = ${t.load(`bh / ${H}u`)};`, `const unsigned srow = ${row};`] : []),
    `const unsigned keep = ${pick};`,
    // a range that keeps nothing writes −1 only (no forced tiles) and scores nothing; keep is uniform per block
    ...(counts.includes(0) ? ['if (keep == 0u) {', `  ${pad}`, '  return;', '}'] : []),
  ];
  const kept = t ? `rank + ${FORCED}u < keep` : KEEP > FORCED ? `rank < ${KEEP - FORCED}u` : 'false';
  const kn = (j: string): string => `(${Nk}u - ${j} * ${T}u < ${T}u ? ${Nk}u - ${j} * ${T}u : ${T}u)`;
  // lane's share of tile j's score: Σ over its keys of q̄·k_r, or (pooled) over its columns of q̄·k̄_j
  const partial = a.keys === undefined ? [
    `    for (unsigned r = lane; r < ${kn('j')}; r += ${LANES}u) {`,
    `      const unsigned base = (bh * ${Nk}u + j * ${T}u + r) * ${D}u;`,
    '      float dot = 0.0f;',
    `      for (unsigned d = 0; d < ${D}u; ++d) dot = fmaf(qbar[d], ${k.load('base + d')}, dot);`,
    '      acc += dot;',
    '    }',
  ] : [
    `    const unsigned base = (bh * ${KT}u + j) * ${D}u;`,
    `    for (unsigned d = lane; d < ${D}u; d += ${LANES}u) acc = fmaf(qbar[d], ${k.load('base + d')}, acc);`,
  ];
  const mean = a.keys === undefined ? `(sum / float(${kn('j')}))` : 'sum';
  return buildCudaKernel({
    name: 'tile_select', vars: [q, k, ...(t ? [t] : []), y], block: BLOCK, blocks: B * H * QT,
    body: [
      `const unsigned bh = blk / ${QT}u, qt = blk % ${QT}u, q0 = qt * ${QR}u;`,
      ...keep,
      `const unsigned qn = ${Nq}u - q0 < ${QR}u ? ${Nq}u - q0 : ${QR}u;`,
      `__shared__ float qbar[${D}];`,
      `__shared__ float part[${BLOCK}];`,
      `__shared__ float score[${KT}];`,
      `__shared__ unsigned flag[${KT}];`,
      `for (unsigned c = threadIdx.x; c < ${D}u; c += ${BLOCK}u) {`,
      '  float acc = 0.0f;',
      `  for (unsigned r = 0; r < qn; ++r) acc += ${q.load(`(bh * ${Nq}u + q0 + r) * ${D}u + c`)};`,
      '  qbar[c] = acc / float(qn);',
      '}',
      '__syncthreads();',
      `const unsigned lane = threadIdx.x % ${LANES}u, slot = threadIdx.x / ${LANES}u;`,
      `for (unsigned j0 = 0; j0 < ${KT}u; j0 += ${BLOCK / LANES}u) {`,
      '  const unsigned j = j0 + slot;',
      '  float acc = 0.0f;',
      `  if (j < ${KT}u) {`,
      ...partial,
      '  }',
      '  part[threadIdx.x] = acc;',
      '  __syncthreads();',
      `  if (lane == 0u && j < ${KT}u) {`,
      '    float sum = 0.0f;',
      `    for (unsigned l = 0; l < ${LANES}u; ++l) sum += part[threadIdx.x + l];`,
      `    const float sc = ${cudaLiteral(a.scale, 'float')} * ${mean};`,
      // a NaN score ranks lowest (the reference's rule), so the rank count still keeps exactly KEEP tiles
      '    score[j] = isnan(sc) ? -3.4028235e38f : sc;',
      '  }',
      '  __syncthreads();',
      '}',
      // kept: forced, or fewer than KEEP − FORCED free tiles beat it (higher, or equal and lower index)
      `for (unsigned j = threadIdx.x; j < ${KT}u; j += ${BLOCK}u) {`,
      // no `j < 0u` / `rank < 0u`: nvcc warns on pointless unsigned comparisons (-Werror)
      `  bool kept = ${FORCED ? `j < ${FORCED}u` : 'false'};`,
      '  if (!kept) {',
      '    const float sj = score[j];',
      '    unsigned rank = 0;',
      `    for (unsigned i = ${FORCED}u; i < ${KT}u; ++i) rank += (score[i] > sj || (score[i] == sj && i < j)) ? 1u : 0u;`,
      `    kept = ${kept};`,
      '  }',
      '  flag[j] = kept ? 1u : 0u;',
      '}',
      '__syncthreads();',
      `for (unsigned j = threadIdx.x; j < ${KT}u; j += ${BLOCK}u) {`,
      '  if (flag[j]) {',
      '    unsigned pos = 0;',
      '    for (unsigned i = 0; i < j; ++i) pos += flag[i];',
      `    ${y.store(`(bh * ${QT}u + qt) * ${KEEP}u + pos`, 'int(j)')}`,
      '  }',
      '}',
      ...(t ? [pad] : []),
    ],
    flops: 2 * B * H * (QT * (a.keys === undefined ? Nk : KT) * D + Nq * D),
  });
}
