import { IRError } from '../../ir/errors.ts';
import type { Node } from '../../ir/node.ts';
import { formatType, sameType } from '../../ir/types.ts';

/** A cotangent built on demand, so that operands the wrt set does not need cost nothing. */
export type Cotangent = () => Node;

/** What a rule may call back into: reverse mode over a sub-expression (for ops given by their decomposition). */
export interface VjpContext {
  /** Cotangents of `targets` for the seed cotangent `seed` of `root`; targets are not differentiated through. */
  backprop(root: Node, seed: Node, targets: readonly Node[]): ReadonlyMap<Node, Node>;
}

/**
 * A vector-Jacobian product: given node n and the cotangent g of its result (n's shape; n's dtype, or f32 for
 * integer n), one entry per operand: its cotangent, or undefined where the operand is not differentiable (bool
 * masks, integer indices), which counts as a zero gradient.
 */
export type Vjp = (n: Node, g: Node, ad: VjpContext) => readonly (Cotangent | undefined)[];

/**
 * The VJP of an op given as its decomposition into other ops over n.src (recomputed in the gradient graph: fine for
 * the small calibration blocks this serves). A repeated operand gets its whole cotangent at its first position.
 */
export function composite(decompose: (n: Node) => Node): Vjp {
  return (n, g, ad) => {
    const d = decompose(n);
    if (!sameType(d.type, n.type)) {
      throw new IRError(`autodiff: ${n.op} decomposes to ${formatType(d.type)}, not ${formatType(n.type)}`);
    }
    const cts = ad.backprop(d, g, n.src);
    return n.src.map((s, i) => {
      const ct = cts.get(s);
      return ct && n.src.indexOf(s) === i ? () => ct : undefined;
    });
  };
}
