import type { Attrs, Op } from './ops.ts';

/**
 * The body of a `fused` node: an elementwise expression over the node's operands. Text form, e.g.
 * `silu(add($0, $1))`, `mul($0, 0.5)`, `gelu{approx="tanh"}($2)`; `$i` is operand i broadcast to the result shape.
 */
export type Expr =
  | { readonly kind: 'input'; readonly index: number }
  | { readonly kind: 'const'; readonly value: number }
  | { readonly kind: 'op'; readonly op: Op; readonly args: readonly Expr[]; readonly attrs: Attrs };
