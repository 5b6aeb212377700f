import type { Op } from '../../ir/ops.ts';
import { ELEMENTWISE_VJPS } from './vjp-elementwise.ts';
import { NN_VJPS } from './vjp-nn.ts';
import { VDIT_QUANT_VJPS } from './vjp-quant.ts';
import { SHAPE_VJPS } from './vjp-shape.ts';
import type { Vjp } from './vjp.ts';

/**
 * op → VJP rule. Not here, hence an error when they lie between the loss and a wrt leaf: gather (needs a
 * scatter-add), timestep_embedding (its input is a timestep, not a learned value), qgemm and fused (take gradients
 * before fusion).
 */
export const VJP_RULES: Readonly<Partial<Record<Op, Vjp>>> = {
  ...ELEMENTWISE_VJPS,
  ...NN_VJPS,
  ...SHAPE_VJPS,
  ...VDIT_QUANT_VJPS,
};

export function supportedOps(): string[] {
  return Object.keys(VJP_RULES).sort();
}
