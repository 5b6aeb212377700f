import { isFloat } from './dtype.ts';
import { IRError } from './errors.ts';
import { keyTiles, queryTile, scheduleBounds } from './infer-sparse-attention.ts';
import type { Attrs } from './ops.ts';
import { formatType, type TensorType } from './types.ts';

/** The scheduled form's budget: one keep per timestep range, largest t first, and the R − 1 descending bounds. */
export interface TileSchedule {
  readonly keeps: readonly number[];
  readonly bounds: readonly number[];
}

/** tile_select's attributes, checked. */
export interface TileSelectAttrs {
  readonly tile: number;
  /** the one budget, or the largest of the schedule's keeps (it sizes T') */
  readonly keep: number;
  readonly keepFirst: number;
  readonly scale: number;
  /** present in the scheduled form (operand t) */
  readonly schedule?: TileSchedule;
  /** present in the pooled form: the original key count Nk, the second operand being k̄ [B, H, ceil(Nk/tile), D] */
  readonly keys?: number;
  /** query rows per query tile when the attribute is given (else tile): QT = ceil(Nq / qtile) */
  readonly qtile?: number;
}

const isKeep = (x: unknown): x is number => typeof x === 'number' && x > 0 && x <= 1;
// a schedule range may keep nothing (its rows all −1; sparse_attention gives 0 there) as long as one range keeps some
const isRangeKeep = (x: unknown): x is number => x === 0 || isKeep(x);

export function tileSelectAttrs(attrs: Attrs): TileSelectAttrs {
  const { tile, keep, keeps, keepFirst = 0, scale, keys } = attrs as Record<string, unknown>;
  if (typeof tile !== 'number' || !Number.isInteger(tile) || tile < 1) {
    throw new IRError(`tile_select: attribute tile must be an integer ≥ 1, got ${JSON.stringify(tile)}`);
  }
  if (keeps !== undefined && keep !== undefined) {
    throw new IRError('tile_select: give keep or keeps (a schedule), not both');
  }
  if (keeps === undefined && !isKeep(keep)) {
    throw new IRError(`tile_select: attribute keep must be in (0, 1], got ${JSON.stringify(keep)}`);
  }
  if (keeps !== undefined && !(Array.isArray(keeps) && keeps.some(isKeep) && keeps.every(isRangeKeep))) {
    const got = JSON.stringify(keeps);
    throw new IRError(`tile_select: attribute keeps must be fractions in [0, 1], one of them > 0, got ${got}`);
  }
  if (keeps === undefined && attrs['bounds'] !== undefined) {
    throw new IRError('tile_select: bounds needs keeps (the scheduled form)');
  }
  if (typeof keepFirst !== 'number' || !Number.isInteger(keepFirst) || keepFirst < 0) {
    throw new IRError(`tile_select: attribute keepFirst must be an integer ≥ 0, got ${JSON.stringify(keepFirst)}`);
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new IRError('tile_select: attribute scale must be a number');
  if (keys !== undefined && (typeof keys !== 'number' || !Number.isInteger(keys) || keys < 1)) {
    throw new IRError(`tile_select: attribute keys must be an integer ≥ 1, got ${JSON.stringify(keys)}`);
  }
  const optional = {
    ...(keys === undefined ? {} : { keys: keys as number }),
    ...(attrs['qtile'] === undefined ? {} : { qtile: queryTile(attrs, 'tile_select') }),
  };
  if (keeps === undefined) return { tile, keep: keep as number, keepFirst, scale, ...optional };
  const schedule = { keeps: keeps as number[], bounds: scheduleBounds(attrs, keeps.length, 'tile_select', 'keeps') };
  return { tile, keep: Math.max(...schedule.keeps), keepFirst, scale, schedule, ...optional };
}

// keep·KT is rounded to 9 digits first, so that 0.3 · 10 = 3.0000000000000004 keeps 3 tiles, not 4
export const tileBudget = (keep: number, total: number): number => Math.ceil(Math.round(keep * total * 1e9) / 1e9);

/** Key tiles that hold keys < keepFirst: always kept, first in every list. */
export const forcedTiles = (nk: number, tile: number, keepFirst: number): number => keyTiles(Math.min(keepFirst, nk), tile);

/** T': the tiles each query tile keeps, forced ones included. */
export function selectedTiles(nk: number, a: TileSelectAttrs): number {
  if (a.keep === 0) return 0;
  return Math.max(tileBudget(a.keep, keyTiles(nk, a.tile)), forcedTiles(nk, a.tile, a.keepFirst));
}

/**
 * The f32 bound b' with x < b' ⇔ x < b for every f32 x (the least f32 ≥ b), so that a kernel comparing its f32
 * timestep in f32 picks the range the reference picks in f64, even for t = f32(b) just below a bound like 0.7.
 */
export function f32Bound(b: number): number {
  const f = Math.fround(b);
  if (f >= b) return f;
  const bits = new Int32Array(Float32Array.of(f).buffer);
  // f < b: one ulp up (toward zero when negative); +0 steps to the least subnormal
  bits[0] = f === 0 ? 1 : bits[0]! + (f > 0 ? 1 : -1);
  return new Float32Array(bits.buffer)[0]!;
}

/** The tiles each query tile keeps per schedule range (one entry when unscheduled); T' is the largest. */
export function rangeTiles(nk: number, a: TileSelectAttrs): number[] {
  return (a.schedule?.keeps ?? [a.keep]).map((keep) => selectedTiles(nk, { ...a, keep }));
}

/** Query rows per query tile: qtile, else tile (the last query tile may be partial). */
export const tileSelectQueryTile = (a: TileSelectAttrs): number => a.qtile ?? a.tile;

/** Nk, the keys the tiles cover: the keys attribute in the pooled form, else k's token count. */
export const tileSelectKeys = (k: TensorType, a: TileSelectAttrs): number => a.keys ?? k.shape[2]!;

/**
 * tile_select{tile, keep, keepFirst, scale}(q[B,H,Nq,D], k[B,H,Nk,D]) → i32[B, H, ceil(Nq/qtile), T'], or the
 * scheduled form tile_select{tile, keeps, bounds, keepFirst, scale}(q, k, t: f[B]) with T' its largest range count.
 * The pooled form (attribute keys = Nk) reads k̄[B, H, ceil(Nk/tile), D] instead of k; KT, T' and the forced tiles
 * come from keys. Any form may take qtile (default tile): the query rows pooled per list; key tiles stay `tile`.
 */
export function tileSelectType(src: readonly TensorType[], attrs: Attrs): TensorType {
  const fail = (msg: string): never => {
    throw new IRError(`tile_select: ${msg} (operands: ${src.map(formatType).join(', ') || 'none'})`);
  };
  if (src.length !== 2 && src.length !== 3) fail(`expects 2 operands (q, k) or 3 (q, k, t), got ${src.length}`);
  const a = tileSelectAttrs(attrs);
  const [q, k, t] = src as [TensorType, TensorType, TensorType | undefined];
  if (t && !a.schedule) fail('operand t needs the scheduled attributes keeps and bounds');
  if (!t && a.schedule) fail('keeps needs the timestep operand t: f[B]');
  if (q.shape.length !== 4 || k.shape.length !== 4) fail('q, k must be [B, H, N, D]');
  if (!isFloat(q.dtype) || k.dtype !== q.dtype) fail('q, k must share one float dtype');
  const [b, h, nq, d] = q.shape as [number, number, number, number];
  if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== d) fail('q and k must agree in batch, heads and head dim');
  if (t && (!isFloat(t.dtype) || t.shape.length !== 1 || t.shape[0] !== b)) fail(`t must be a float [${b}]`);
  const nk = tileSelectKeys(k, a);
  if (nq < 1 || k.shape[2]! < 1) fail('q and k need at least one token');
  if (a.keys !== undefined && k.shape[2] !== keyTiles(nk, a.tile)) {
    fail(`pooled k̄ must hold ceil(keys/tile) = ceil(${nk}/${a.tile}) = ${keyTiles(nk, a.tile)} tile means, got ${k.shape[2]}`);
  }
  return { dtype: 'i32', shape: [b, h, keyTiles(nq, tileSelectQueryTile(a)), selectedTiles(nk, a)] };
}
