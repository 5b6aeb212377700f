import { isFloat } from './dtype.ts';
import { IRError } from './errors.ts';
import type { Attrs } from './ops.ts';
import { formatType, type TensorType } from './types.ts';

function fail(msg: string, src: readonly TensorType[]): never {
  throw new IRError(`sparse_attention: ${msg} (operands: ${src.map(formatType).join(', ') || 'none'})`);
}

/** Key tiles of `tile` keys covering nk keys (the last one may be partial); query tiles likewise. */
export function keyTiles(nk: number, tile: number): number {
  return Math.ceil(nk / tile);
}

/**
 * Query rows per query tile of the per-query-tile lists (tile_select's output, sparse_attention's i32[B, H, QT, T]):
 * attribute qtile, else the key tile. It may differ from the key tile so that a GPU block of many queries (the
 * 8-warp tensor-core block wants 128) shares one list while the key tiles stay small. Call after checking tile.
 */
export function queryTile(attrs: Attrs, op: string): number {
  const qtile = attrs['qtile'] ?? attrs['tile'];
  if (typeof qtile !== 'number' || !Number.isInteger(qtile) || qtile < 1) {
    throw new IRError(`${op}: attribute qtile must be an integer ≥ 1, got ${JSON.stringify(qtile)}`);
  }
  return qtile;
}

/**
 * The `bounds` attribute of a scheduled op: R − 1 strictly descending finite timesteps between its R `rows` (tile
 * rows of sparse_attention, keeps of tile_select, which reads the same schedule).
 */
export function scheduleBounds(
  attrs: Attrs, rows: number, op = 'sparse_attention', unit = 'tile rows',
): readonly number[] {
  const b = attrs['bounds'] ?? [];
  if (!Array.isArray(b) || !b.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new IRError(`${op}: attribute bounds must be a list of numbers, got ${JSON.stringify(b)}`);
  }
  if (b.length !== rows - 1) {
    throw new IRError(`${op}: ${rows} ${unit} need ${rows - 1} bounds, got ${b.length}`);
  }
  for (let i = 1; i < b.length; i++) {
    if (!(b[i]! < b[i - 1]!)) throw new IRError(`${op}: bounds must be strictly descending, got [${b.join(', ')}]`);
  }
  return b as number[];
}

/** The schedule row of a timestep: how many bounds lie above it (rows run in sampling order, t falling). */
export function scheduleRow(t: number, bounds: readonly number[]): number {
  let row = 0;
  for (const b of bounds) if (t < b) row++;
  return row;
}

/**
 * sparse_attention{scale, tile}(q, k, v, tiles: i32[T]) → [B,H,Nq,Dv], the per-query-tile form (tiles
 * i32[B, H, QT, T], QT = ceil(Nq / qtile), attribute qtile defaulting to tile and allowed in this form only), or
 * the scheduled form sparse_attention{scale, tile, bounds}(q, k, v, tiles: i32[R, T], t: f[B]) whose batch b reads
 * row scheduleRow(t[b], bounds). The tile lists' values are data, so only their type is checked here: 1 ≤ T ≤ the
 * number of key tiles (the reference checks order, range and padding at run time).
 */
export function sparseAttentionType(src: readonly TensorType[], attrs: Attrs): TensorType {
  if (src.length !== 4 && src.length !== 5) fail(`expects 4 operands (q, k, v, tiles) or 5 (…, t), got ${src.length}`, src);
  const [q, k, v, tiles, t] = src as [TensorType, TensorType, TensorType, TensorType, TensorType | undefined];
  const scale = attrs['scale'];
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new IRError('sparse_attention: attribute scale must be a number');
  }
  const tile = attrs['tile'];
  if (typeof tile !== 'number' || !Number.isInteger(tile) || tile < 1) {
    throw new IRError(`sparse_attention: attribute tile must be an integer ≥ 1, got ${JSON.stringify(tile)}`);
  }
  if (q.shape.length !== 4 || k.shape.length !== 4 || v.shape.length !== 4) fail('q, k, v must be [B, H, N, D]', src);
  const [b, h, nq, d] = q.shape as [number, number, number, number];
  const [kb, kh, nk, kd] = k.shape as [number, number, number, number];
  const [vb, vh, vn, dv] = v.shape as [number, number, number, number];
  if (kb !== b || vb !== b || kh !== h || vh !== h) fail('batch and head counts must agree', src);
  if (kd !== d) fail('q and k head dims differ', src);
  if (vn !== nk) fail('k and v token counts differ', src);
  if (!isFloat(q.dtype) || k.dtype !== q.dtype || v.dtype !== q.dtype) fail('q, k, v must share one float dtype', src);
  const perQueryTile = t === undefined && tiles.shape.length === 4;
  if (attrs['qtile'] !== undefined && !perQueryTile) {
    const why = 'the 1-D and scheduled lists have no query tiles';
    fail(`qtile needs the per-query-tile form (tiles i32[B, H, QT, T]): ${why}`, src);
  }
  const qtile = queryTile(attrs, 'sparse_attention');
  if (t === undefined) {
    const qt = keyTiles(nq, qtile);
    if (tiles.dtype !== 'i32' || (tiles.shape.length !== 1 && !perQueryTile)) {
      fail(`tiles must be i32[T] or, per query tile, i32[${b}, ${h}, ${qt}, T]`, src);
    }
    const [tb, th, tq] = tiles.shape;
    if (perQueryTile && (tb !== b || th !== h || tq !== qt)) {
      const why = `QT = ceil(${nq} / ${qtile})${attrs['qtile'] === undefined ? '' : ' (qtile)'}`;
      fail(`per-query-tile tiles must be i32[${b}, ${h}, ${qt}, T] (${why})`, src);
    }
    if (attrs['bounds'] !== undefined) fail('bounds needs the scheduled form (tiles i32[R, T] and t)', src);
  } else {
    if (tiles.dtype !== 'i32' || tiles.shape.length !== 2) fail('scheduled tiles must be i32[R, T]', src);
    if (!isFloat(t.dtype) || t.shape.length !== 1 || t.shape[0] !== b) fail(`t must be a float [${b}]`, src);
    scheduleBounds(attrs, tiles.shape[0]!);
  }
  const total = keyTiles(nk, tile);
  const listed = tiles.shape.at(-1)!;
  if (listed < 1 || listed > total) {
    fail(`tiles lists ${listed} tiles, want 1..${total} (${nk} keys in tiles of ${tile})`, src);
  }
  return { dtype: q.dtype, shape: [b, h, nq, dv] };
}
