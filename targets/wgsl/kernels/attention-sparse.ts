import { keyTiles, queryTile, scheduleBounds } from '../../../ir/infer-sparse-attention.ts';
import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel, literal, scheduleRowExpr } from '../render.ts';
import { tensorVar, type TensorVar } from '../tensor-var.ts';
import {
  ATTENTION_BLOCKS, attentionSharedBytes, flashPrelude, flashStart, flashStore, onlineSoftmax, THREADS_PER_ROW,
} from './attention.ts';
import { attentionShape, type AttnShape } from './attention-shape.ts';
import { bytesOf } from './elementwise.ts';

/**
 * Block candidates: attention.ts's, or per query tile (one list per qtile queries) Q_BLOCK = the largest divisor
 * of the query tile up to 16, so that no workgroup straddles two query tiles. qtile is 0 outside that form.
 */
function blockCandidates(qtile: number): readonly (readonly [number, number])[] {
  if (!qtile) return ATTENTION_BLOCKS;
  const q = [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1].find((d) => qtile % d === 0)!;
  return [32, 16, 8].map((k) => [q, k] as const);
}

// the largest block that fits, preferring KV_BLOCK ≤ tile so that small tiles do not load mostly-masked chunks
function pickBlocks(s: AttnShape, tile: number, budget: number, qtile: number): readonly [number, number] {
  const fits = blockCandidates(qtile).filter(([q, k]) => attentionSharedBytes(s, q, k) <= budget);
  const fit = fits.find(([, k]) => k <= tile) ?? fits.reduce<readonly [number, number] | undefined>(
    (best, b) => (best && best[1] <= b[1] ? best : b), undefined);
  if (!fit) {
    throw new Error(`wgsl: sparse_attention head dims ${s.d}/${s.dv} need more than ${budget} B of workgroup memory`);
  }
  return fit;
}

// keys past the chunk's end (j_end: the tile's end, clipped to Nk) load as zeros and score MASKED
function chunkLoads(k: TensorVar, v: TensorVar): string[] {
  return [
    '    workgroupBarrier();',
    '    for (var e = lidx; e < KV_BLOCK * D; e += WG) {',
    '      let r = e / D; let c = e % D; let kj = j0 + r;',
    `      var x = 0.0; if (kj < j_end) { x = ${k.load('k_base + kj * D + c')}; }`,
    '      k_tile[r * K_STRIDE + c] = x;',
    '    }',
    '    for (var e = lidx; e < KV_BLOCK * DV; e += WG) {',
    '      let r = e / DV; let c = e % DV; let kj = j0 + r;',
    `      var x = 0.0; if (kj < j_end) { x = ${v.load('v_base + kj * DV + c')}; }`,
    '      v_tile[e] = x;',
    '    }',
    '    workgroupBarrier();',
  ];
}

function chunkScores(s: AttnShape, scale: number): string[] {
  return [
    '    for (var e = lidx; e < Q_BLOCK * KV_BLOCK; e += WG) {',
    '      let r = e / KV_BLOCK; let c = e % KV_BLOCK; let qi = q0 + r; let kj = j0 + c;',
    '      var sc = MASKED;',
    `      if (qi < ${s.nq}u && kj < j_end) {`,
    '        var dot = 0.0;',
    '        for (var d = 0u; d < D; d++) { dot = fma(q_tile[r * D + d], k_tile[c * K_STRIDE + d], dot); }',
    `        sc = max(dot * ${literal(scale, 'f32')}, MASKED);`,
    '      }',
    '      s_tile[e] = sc;',
    '    }',
    '    workgroupBarrier();',
  ];
}

/**
 * The list row the workgroup reads: its batch's (bh / H) schedule row in the scheduled form (how many bounds lie
 * above its timestep), its query tile's row per query tile (qTiles tiles of `rows` queries), else 0. It depends on
 * the workgroup only, so the row, like the list, is uniform across the workgroup.
 */
function scheduleRowOf(
  t: TensorVar | undefined, bounds: readonly number[], heads: number, qTiles: number, rows: string,
): string[] {
  if (qTiles) return [`let srow = bh * ${qTiles}u + q0 / ${rows};`];
  if (!t) return ['let srow = 0u;'];
  const tv = `let tb = ${t.load(`bh / ${heads}u`)};`;
  return [tv, `let srow = ${scheduleRowExpr('tb', bounds)};`];
}

/**
 * sparse_attention{scale, tile}(q[B,H,Nq,D], k[B,H,Nk,D], v[B,H,Nk,Dv], tiles: i32[T]) → [B,H,Nq,Dv], or the
 * scheduled form (tiles: i32[R, T], t: f[B]) whose workgroups read their batch's row, or the per-query-tile form
 * (tiles: i32[B, H, QT, T]) whose workgroups read their query tile's row (Q_BLOCK divides qtile, so a workgroup's
 * rows lie in one query tile); −1 padding is skipped, and a list of −1 only gives rows of 0 (flashStore).
 * Block-sparse flash attention: attention.ts's kernel (one workgroup per (batch, head, Q_BLOCK queries), K/V staged
 * through workgroup memory in KV_BLOCK-key chunks, online softmax in f32) whose K/V loop walks only the kept key
 * tiles read from the i32 tile list, so its work scales with the kept fraction. Q stays dense. The list is uniform
 * across the workgroup (read-only storage at a uniform index), which keeps the barriers in uniform control flow.
 * An IR tile (`tile` keys) is covered by ceil(tile / KV_BLOCK) chunks; a chunk never crosses the tile's end.
 */
export function lowerSparseAttention(n: Node, ctx: LowerContext): KernelSpec {
  const [qt, kt, vt, tt] = [n.src[0]!.type, n.src[1]!.type, n.src[2]!.type, n.src[3]!.type];
  const ts = n.src[4]?.type;
  const s = attentionShape(n);
  const { b, h, nq, d } = s;
  const scale = attr<number>(n, 'scale');
  const tile = attr<number>(n, 'tile');
  const kept = tt.shape.at(-1)!;
  const bounds = ts ? scheduleBounds(n.attrs, tt.shape[0]!) : [];
  const perQueryTile = tt.shape.length === 4;
  const qtile = perQueryTile ? queryTile(n.attrs, 'sparse_attention') : 0;
  const [qBlock, kvBlock] = pickBlocks(s, tile, ctx.caps.limits.maxComputeWorkgroupStorageSize, qtile);
  const wg = qBlock * THREADS_PER_ROW;
  const q = tensorVar('x0', qt.dtype, qt.shape, ctx.elem);
  const k = tensorVar('x1', kt.dtype, kt.shape, ctx.elem);
  const v = tensorVar('x2', vt.dtype, vt.shape, ctx.elem);
  const tiles = tensorVar('x3', tt.dtype, tt.shape, ctx.elem);
  const tv = ts && tensorVar('x4', ts.dtype, ts.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const qBlocks = Math.ceil(nq / qBlock);
  const prelude = flashPrelude(s, qBlock, kvBlock,
    [`const TILE: u32 = ${tile}u;`, `const KEPT: u32 = ${kept}u;`, `const NTILES: u32 = ${keyTiles(s.nk, tile)}u;`]);
  const body = [
    ...flashStart(q, s, qBlocks),
    // a query tile other than the key tile is inlined; equal ones emit the source as before
    ...scheduleRowOf(tv, bounds, h, perQueryTile ? tt.shape[2]! : 0, qtile === tile ? 'TILE' : `${qtile}u`),
    // padding (−1) and out-of-range entries (the reference rejects them) map to NTILES, which covers no key: skipped
    'for (var ti = 0u; ti < KEPT; ti++) {',
    `  let ts = ${tiles.load('srow * KEPT + ti')};`,
    '  let t = select(min(u32(ts), NTILES), NTILES, ts < 0i);',
    '  let j_end = min(t * TILE + TILE, NK);',
    '  for (var j0 = t * TILE; j0 < j_end; j0 += KV_BLOCK) {',
    ...chunkLoads(k, v),
    ...chunkScores(s, scale),
    ...onlineSoftmax('j_end', '    '),
    '  }',
    '}',
    ...flashStore(y, s),
  ];
  const vars = [q, k, v, tiles, ...(tv ? [tv] : []), y];
  // at most KEPT·tile keys are read: the flop and byte counts are that bound (the last tile may be partial)
  const keys = Math.min(kept * tile, s.nk);
  return buildKernel({
    name: 'sparse_attention',
    hint: `${ctx.elem};scale=${scale};tile=${tile};bounds=${bounds.join('/')};${qBlock}x${kvBlock}` +
      (perQueryTile ? ';per-query-tile' : '') + (perQueryTile && qtile !== tile ? `;qtile=${qtile}` : ''),
    vars,
    workgroup: [wg],
    workgroups: b * h * qBlocks,
    prelude,
    body,
    flops: 2 * b * h * nq * keys * (d + s.dv),
    bytes: [q, y].reduce((a, t) => a + t.numel * bytesOf(t.storage), 0) + tiles.numel * 4 +
      b * h * keys * (d + s.dv) * bytesOf(k.storage),
  });
}
