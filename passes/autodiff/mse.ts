import { IRError } from '../../ir/errors.ts';
import type { GraphBuilder } from '../../ir/builder.ts';
import type { Node } from '../../ir/node.ts';
import { broadcastShapes, formatType } from '../../ir/types.ts';

/**
 * The (λ-weighted) per-token mean squared error, a scalar of shape []: mean over tokens t of λ_t · mean_d
 * (a − target)² with d the last axis. `weights` (λ) must broadcast to the token axes a.shape[:-1].
 */
export function mse(b: GraphBuilder, a: Node, target: Node, weights?: Node): Node {
  if (a.type.shape.join() !== target.type.shape.join() || a.type.shape.length === 0) {
    const got = `${formatType(a.type)} and ${formatType(target.type)}`;
    throw new IRError(`mse: expects two tensors of one shape [..., D], got ${got}`);
  }
  const rank = a.type.shape.length;
  const err = b.op('square', [b.op('sub', [a, target])]);
  let perToken = b.op('reduce_mean', [err], { axes: [rank - 1], keepdims: false });
  if (weights) {
    const tokens = perToken.type.shape;
    if (broadcastShapes(weights.type.shape, tokens)?.join() !== tokens.join()) {
      const w = formatType(weights.type);
      throw new IRError(`mse: weights ${w} do not broadcast to the tokens [${tokens.join(',')}]`);
    }
    perToken = b.op('mul', [perToken, weights]);
  }
  if (rank === 1) return perToken;
  return b.op('reduce_mean', [perToken], { axes: Array.from({ length: rank - 1 }, (_, i) => i), keepdims: false });
}
