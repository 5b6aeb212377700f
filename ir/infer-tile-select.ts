import { isFloat } from './dtype.ts';
import { IRError } from './errors.ts';
import { keyTiles } from './infer-sparse-attention.ts';
import type { Attrs } from './ops.ts';
import { formatType, type TensorType } from './types.ts';

/** tile_select's attributes, checked. */
export interface TileSelectAttrs {
  readonly tile: number;
  readonly keep: number;
  readonly keepFirst: number;
  readonly scale: number;
}

export function tileSelectAttrs(attrs: Attrs): TileSelectAttrs {
  const { tile, keep, keepFirst = 0, scale } = attrs as Record<string, unknown>;
  if (typeof tile !== 'number' || !Number.isInteger(tile) || tile < 1) {
    throw new IRError(`tile_select: attribute tile must be an integer ≥ 1, got ${JSON.stringify(tile)}`);
  }
  if (typeof keep !== 'number' || !(keep > 0 && keep <= 1)) {
    throw new IRError(`tile_select: attribute keep must be in (0, 1], got ${JSON.stringify(keep)}`);
  }
  if (typeof keepFirst !== 'number' || !Number.isInteger(keepFirst) || keepFirst < 0) {
    throw new IRError(`tile_select: attribute keepFirst must be an integer ≥ 0, got ${JSON.stringify(keepFirst)}`);
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new IRError('tile_select: attribute scale must be a number');
  return { tile, keep, keepFirst, scale };
}

// keep·KT is rounded to 9 digits first, so that 0.3 · 10 = 3.0000000000000004 keeps 3 tiles, not 4
export const tileBudget = (keep: number, total: number): number => Math.ceil(Math.round(keep * total * 1e9) / 1e9);

/** Key tiles that hold keys < keepFirst: always kept, first in every list. */
export const forcedTiles = (nk: number, tile: number, keepFirst: number): number => keyTiles(Math.min(keepFirst, nk), tile);

/** T': the tiles each query tile keeps, forced ones included. */
export function selectedTiles(nk: number, a: TileSelectAttrs): number {
  return Math.max(tileBudget(a.keep, keyTiles(nk, a.tile)), forcedTiles(nk, a.tile, a.keepFirst));
}

/** tile_select{tile, keep, keepFirst, scale}(q[B,H,Nq,D], k[B,H,Nk,D]) → i32[B, H, ceil(Nq/tile), T']. */
export function tileSelectType(src: readonly TensorType[], attrs: Attrs): TensorType {
  const fail = (msg: string): never => {
    throw new IRError(`tile_select: ${msg} (operands: ${src.map(formatType).join(', ') || 'none'})`);
  };
  if (src.length !== 2) fail(`expects 2 operands (q, k), got ${src.length}`);
  const a = tileSelectAttrs(attrs);
  const [q, k] = src as [TensorType, TensorType];
  if (q.shape.length !== 4 || k.shape.length !== 4) fail('q, k must be [B, H, N, D]');
  if (!isFloat(q.dtype) || k.dtype !== q.dtype) fail('q, k must share one float dtype');
  const [b, h, nq, d] = q.shape as [number, number, number, number];
  if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== d) fail('q and k must agree in batch, heads and head dim');
  const nk = k.shape[2]!;
  if (nq < 1 || nk < 1) fail('q and k need at least one token');
  return { dtype: 'i32', shape: [b, h, keyTiles(nq, a.tile), selectedTiles(nk, a)] };
}
