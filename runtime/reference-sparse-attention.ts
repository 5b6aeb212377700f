import { keyTiles, queryTile, scheduleBounds, scheduleRow } from '../ir/infer-sparse-attention.ts';
import type { Node } from '../ir/node.ts';
import { gemmNT } from './reference-gemm.ts';
import { alloc, type Buf, type Ctx, type Val } from './reference-values.ts';

// query rows scored per gemm call, as in evalAttention: the score buffer is ROWS × tile, never Nq × Nk
const ROWS = 8;

/**
 * Checks a tile list against ir/ops.ts: non-empty, strictly ascending (so distinct) and each in 0..T−1. The GPU
 * kernels cannot raise errors, so this is where a bad list is caught.
 */
export function checkTiles(tiles: ArrayLike<number>, nk: number, tile: number): void {
  const total = keyTiles(nk, tile);
  const list = (): string => `[${Array.from(tiles).slice(0, 16).join(',')}${tiles.length > 16 ? ',…' : ''}]`;
  if (tiles.length === 0) throw new Error('sparse_attention: tiles is empty; at least one key tile must be kept');
  for (let i = 0; i < tiles.length; i++) {
    const t = tiles[i]!;
    if (!(Number.isInteger(t) && t >= 0 && t < total)) {
      const where = `${nk} keys, tile ${tile}`;
      throw new Error(`sparse_attention: tile ${t} at ${i} is outside 0..${total - 1} (${where}): ${list()}`);
    }
    if (i > 0 && t <= tiles[i - 1]!) {
      throw new Error(`sparse_attention: tiles must be strictly ascending, got ${tiles[i - 1]} then ${t}: ${list()}`);
    }
  }
}

/** The valid prefix of a −1-padded schedule row (padding only at the end, maybe all of it), checked like a plain list. */
export function rowTiles(row: ArrayLike<number>, nk: number, tile: number): ArrayLike<number> {
  const list = Array.from(row);
  const end = list.indexOf(-1);
  const valid = end < 0 ? list : list.slice(0, end);
  if (end >= 0 && list.slice(end).some((x) => x !== -1)) {
    throw new Error(`sparse_attention: a schedule row may hold −1 only as trailing padding: [${list.join(',')}]`);
  }
  // a row of padding only is an empty list (a range that keeps nothing): its queries give 0
  if (valid.length) checkTiles(valid, nk, tile);
  return valid;
}

/** The tile list of (batch·head, query tile): the one list, the batch's schedule row, or the query tile's own row. */
type TileLists = (bh: number, qt: number) => ArrayLike<number>;

/** Each form's lists, every row checked once. */
function tileLists(n: Node, src: readonly Val[], H: number, nk: number, tile: number): TileLists {
  const tiles = src[3]!;
  const shape = tiles.type.shape;
  if (shape.length === 1) {
    checkTiles(tiles.data, nk, tile);
    return () => tiles.data;
  }
  const T = shape.at(-1)!;
  const rows = Array.from({ length: tiles.data.length / T },
    (_, r) => rowTiles(tiles.data.subarray(r * T, (r + 1) * T), nk, tile));
  if (src.length === 4) return (bh, qt) => rows[bh * shape[2]! + qt]!;
  const bounds = scheduleBounds(n.attrs, shape[0]!);
  const t = src[4]!.data;
  return (bh) => rows[scheduleRow(t[Math.floor(bh / H)]!, bounds)]!;
}

/** Running softmax state of ROWS query rows: max, denominator and unnormalised output, in f64. */
interface Online {
  readonly m: Float64Array;
  readonly l: Float64Array;
  readonly acc: Float64Array;
}

/**
 * sparse_attention{scale, tile}(q, k, v, tiles[, t]): per (batch, head) and block of query rows, an online softmax
 * over the kept key tiles only (the batch's schedule row in the scheduled form, the row of the query tile of qtile
 * rows in the per-query-tile form), in list order; keys outside them are never read, as in the GPU kernels.
 */
export function evalSparseAttention(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [q, k, v] = [src[0]!, src[1]!, src[2]!];
  const [B, H, Nq, D] = q.type.shape as [number, number, number, number];
  const [Nk, Dv] = [k.type.shape[2]!, v.type.shape[3]!];
  const [scale, tile] = [n.attrs['scale'] as number, n.attrs['tile'] as number];
  const lists = tileLists(n, src, H, Nk, tile);
  // per query tile (qtile rows), a block of rows never crosses a query tile's end: it shares one list
  const qtile = n.src[3]!.type.shape.length === 4 ? queryTile(n.attrs, 'sparse_attention') : Nq;
  const out = alloc(n.type, ctx);
  const s = new Float64Array(ROWS * tile);
  const st: Online = { m: new Float64Array(ROWS), l: new Float64Array(ROWS), acc: new Float64Array(ROWS * Dv) };
  for (let bh = 0; bh < B * H; bh++) {
    for (let i0 = 0, rows = 0; i0 < Nq; i0 += rows) {
      const qt = Math.floor(i0 / qtile);
      rows = Math.min(ROWS, Nq - i0, (qt + 1) * qtile - i0);
      st.m.fill(-Infinity);
      st.l.fill(0);
      st.acc.fill(0);
      for (const ti of Array.from(lists(bh, qt))) {
        const j0 = ti * tile;
        const cols = Math.min(tile, Nk - j0);
        const [xOff, wOff] = [(bh * Nq + i0) * D, (bh * Nk + j0) * D];
        gemmNT({ x: q.data, xOff, w: k.data, wOff, o: s, oOff: 0, rows, cols, k: D });
        for (let r = 0; r < rows; r++) addTile(st, r, s, r * cols, cols, scale, v.data, (bh * Nk + j0) * Dv, Dv);
      }
      const o = out.data;
      const base = (bh * Nq + i0) * Dv;
      // an empty list (a schedule range that keeps nothing) sums over no keys: 0
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < Dv; d++) o[base + r * Dv + d] = st.l[r]! > 0 ? st.acc[r * Dv + d]! / st.l[r]! : 0;
      }
    }
  }
  return out;
}

/** One row's online-softmax step over `cols` scores: rescale by exp(m − m'), then add exp(s − m')·v. */
function addTile(
  st: Online, r: number, s: Float64Array, off: number, cols: number, scale: number, v: Buf, vOff: number, Dv: number,
): void {
  let mx = st.m[r]!;
  for (let j = 0; j < cols; j++) mx = Math.max(mx, s[off + j]! * scale);
  const alpha = Math.exp(st.m[r]! - mx);
  const acc = st.acc;
  const a0 = r * Dv;
  let l = st.l[r]! * alpha;
  for (let d = 0; d < Dv; d++) acc[a0 + d]! *= alpha;
  for (let j = 0; j < cols; j++) {
    const p = Math.exp(s[off + j]! * scale - mx);
    l += p;
    const vr = vOff + j * Dv;
    for (let d = 0; d < Dv; d++) acc[a0 + d]! += p * v[vr + d]!;
  }
  st.l[r] = l;
  st.m[r] = mx;
}
