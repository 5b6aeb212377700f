import type { Node } from '../ir/node.ts';
import { gemmNT } from './reference-gemm.ts';
import { alloc, type Ctx, type Val } from './reference-values.ts';

// query rows scored per gemm call: the n×n score matrix is never held, only TILE×Nk of it
const TILE = 32;

/**
 * attention_colsum{scale}(q, k) → f32[B, Nk]: S_j = Σ_h Σ_i softmax(q kᵀ·scale)[h, i, j], accumulated in f64.
 * The attention each key receives (S²Q-VDiT Eq. 11), computed a tile of query rows at a time.
 */
export function evalAttentionColsum(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [q, k] = [src[0]!, src[1]!];
  const [B, H, Nq, D] = q.type.shape as [number, number, number, number];
  const Nk = k.type.shape[2]!;
  const scale = n.attrs['scale'] as number;
  const s = new Float64Array(TILE * Nk);
  const acc = new Float64Array(B * Nk);
  for (let bh = 0; bh < B * H; bh++) {
    const outOff = Math.floor(bh / H) * Nk;
    for (let i0 = 0; i0 < Nq; i0 += TILE) {
      const rows = Math.min(TILE, Nq - i0);
      gemmNT({ x: q.data, xOff: (bh * Nq + i0) * D, w: k.data, wOff: bh * Nk * D, o: s, oOff: 0, rows, cols: Nk, k: D });
      for (let r = 0; r < rows; r++) addSoftmaxRow(s, r * Nk, Nk, scale, acc, outOff);
    }
  }
  const out = alloc(n.type, ctx);
  out.data.set(acc);
  return out;
}

function addSoftmaxRow(s: Float64Array, off: number, len: number, scale: number, acc: Float64Array, to: number): void {
  let max = -Infinity;
  for (let j = 0; j < len; j++) max = Math.max(max, s[off + j]! * scale);
  let sum = 0;
  for (let j = 0; j < len; j++) sum += s[off + j] = Math.exp(s[off + j]! * scale - max);
  const inv = 1 / sum;
  for (let j = 0; j < len; j++) acc[to + j]! += s[off + j]! * inv;
}
