import { isFloat } from './dtype.ts';
import { IRError } from './errors.ts';
import type { Attrs } from './ops.ts';
import { formatType, type TensorType } from './types.ts';

function fail(msg: string, src: readonly TensorType[]): never {
  throw new IRError(`sparse_attention: ${msg} (operands: ${src.map(formatType).join(', ') || 'none'})`);
}

/** Key tiles of `tile` keys covering nk keys (the last one may be partial). */
export function keyTiles(nk: number, tile: number): number {
  return Math.ceil(nk / tile);
}

/**
 * sparse_attention{scale, tile}(q, k, v, tiles: i32[T]) → [B,H,Nq,Dv]. The tile list's values are data, so only its
 * type is checked here: 1 ≤ T ≤ the number of key tiles (the reference checks order and range at run time).
 */
export function sparseAttentionType(src: readonly TensorType[], attrs: Attrs): TensorType {
  if (src.length !== 4) fail(`expects 4 operands (q, k, v, tiles), got ${src.length}`, src);
  const [q, k, v, tiles] = src as [TensorType, TensorType, TensorType, TensorType];
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
  if (tiles.dtype !== 'i32' || tiles.shape.length !== 1) fail('tiles must be i32[T]', src);
  const total = keyTiles(nk, tile);
  if (tiles.shape[0]! < 1 || tiles.shape[0]! > total) {
    fail(`tiles lists ${tiles.shape[0]} tiles, want 1..${total} (${nk} keys in tiles of ${tile})`, src);
  }
  return { dtype: q.dtype, shape: [b, h, nq, dv] };
}
