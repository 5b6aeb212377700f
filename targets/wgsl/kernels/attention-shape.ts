import type { Node } from '../../../ir/node.ts';

/** What both attention kernels (tiled and direct) read off an attention node. */
export interface AttnShape {
  readonly b: number;
  readonly h: number;
  readonly nq: number;
  readonly nk: number;
  readonly d: number;
  readonly dv: number;
}

// masked scores: finite (implementations may assume no inf), far below any real score, above the running-max seed
export const MASKED = -1e30;
export const MAX_SEED = -3e38;

export function attentionShape(n: Node): AttnShape {
  const [q, k, v] = [n.src[0]!.type, n.src[1]!.type, n.src[2]!.type];
  const [b, h, nq, d] = q.shape as [number, number, number, number];
  return { b, h, nq, d, nk: k.shape[2]!, dv: v.shape[3]! };
}
