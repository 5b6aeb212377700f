import { keyTiles, scheduleRow } from '../ir/infer-sparse-attention.ts';
import {
  forcedTiles, rangeTiles, selectedTiles, tileSelectAttrs, tileSelectKeys, tileSelectQueryTile,
} from '../ir/infer-tile-select.ts';
import type { Node } from '../ir/node.ts';
import { alloc, type Buf, type Ctx, type Val } from './reference-values.ts';

/** The means of each `tile` rows of an [N, D] matrix at `off` (the last tile may be partial), in f64: [ceil(N/tile), D]. */
function poolRows(x: Buf, off: number, n: number, d: number, tile: number): Float64Array {
  const out = new Float64Array(keyTiles(n, tile) * d);
  for (let t = 0; t * tile < n; t++) {
    const rows = Math.min(tile, n - t * tile);
    for (let r = 0; r < rows; r++) for (let c = 0; c < d; c++) out[t * d + c]! += x[off + (t * tile + r) * d + c]!;
    for (let c = 0; c < d; c++) out[t * d + c]! /= rows;
  }
  return out;
}

/**
 * The kept tiles, ascending: 0..forced−1, then the `count − forced` best-scoring others, ties to the lower index
 * (the order the GPU kernels' rank count gives too).
 */
export function pickTiles(score: ArrayLike<number>, forced: number, count: number): number[] {
  const rest = Array.from({ length: score.length - forced }, (_, i) => forced + i)
    .sort((a, b) => score[b]! - score[a]! || a - b)
    .slice(0, count - forced);
  return [...Array.from({ length: forced }, (_, i) => i), ...rest].sort((a, b) => a - b);
}

/**
 * tile_select{tile, keep, keepFirst, scale}(q, k) → i32[B, H, QT, T']: per (batch, head) the key tiles' means once,
 * then per query tile (qtile rows, default tile) its mean, the scores s_j = scale·q̄·k̄_j and their T' best
 * (ir/ops.ts), all in f64. The scheduled form (operand t) keeps its batch's range count instead and pads the row
 * with −1 to T'. The pooled form (attribute keys) reads the tile means k̄ as given.
 */
export function evalTileSelect(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [q, k, t] = [src[0]!, src[1]!, src[2]];
  const [B, H, Nq, D] = q.type.shape as [number, number, number, number];
  const a = tileSelectAttrs(n.attrs);
  const Nk = tileSelectKeys(k.type, a);
  const qtile = tileSelectQueryTile(a);
  const [QT, KT, T] = [keyTiles(Nq, qtile), keyTiles(Nk, a.tile), selectedTiles(Nk, a)];
  const forced = forcedTiles(Nk, a.tile, a.keepFirst);
  const counts = rangeTiles(Nk, a);
  const countOf = (b: number): number => (t && a.schedule ? counts[scheduleRow(t.data[b]!, a.schedule.bounds)]! : T);
  const out = alloc(n.type, ctx);
  out.data.fill(-1);
  const score = new Float64Array(KT);
  for (let bh = 0; bh < B * H; bh++) {
    const count = countOf(Math.floor(bh / H));
    if (count === 0) continue; // a range that keeps nothing: its rows stay −1
    const kbar = a.keys === undefined ? poolRows(k.data, bh * Nk * D, Nk, D, a.tile)
      : Float64Array.from(k.data.subarray(bh * KT * D, (bh + 1) * KT * D));
    const qbar = poolRows(q.data, bh * Nq * D, Nq, D, qtile);
    for (let qt = 0; qt < QT; qt++) {
      for (let j = 0; j < KT; j++) {
        let dot = 0;
        for (let c = 0; c < D; c++) dot += qbar[qt * D + c]! * kbar[j * D + c]!;
        // a NaN score ranks lowest, so exactly T tiles are kept whatever the inputs hold
        score[j] = Number.isNaN(dot) ? -Number.MAX_VALUE : a.scale * dot;
      }
      out.data.set(pickTiles(score, forced, count), (bh * QT + qt) * T);
    }
  }
  return out;
}
