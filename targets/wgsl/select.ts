import { BINARY_OPS, UNARY_OPS, type Op } from '../../ir/ops.ts';
import type { Node } from '../../ir/node.ts';
import type { LowerContext } from '../target.ts';
import type { KernelSpec } from './kernel.ts';
import { lowerElementwise } from './kernels/elementwise.ts';

type Lowering = (n: Node, ctx: LowerContext) => KernelSpec;

/** op → kernel generator; leaves are buffers and reshapes alias their source, so neither is here. */
const KERNELS: Partial<Record<Op, Lowering>> = {
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, lowerElementwise])),
  ...Object.fromEntries(BINARY_OPS.map((op) => [op, lowerElementwise])),
  where: lowerElementwise,
  fused: lowerElementwise,
};

/** The kernel for one node on this device; throws `wgsl: no kernel for op X` or `wgsl: ... needs shader-f16`. */
export function lowerNode(n: Node, ctx: LowerContext): KernelSpec {
  const lower = KERNELS[n.op];
  if (!lower) throw new Error(`wgsl: no kernel for op ${n.op}`);
  const spec = lower(n, ctx);
  if (spec.features.includes('shader-f16') && !ctx.caps.features.has('shader-f16') && !ctx.caps.hasF16) {
    throw new Error(`wgsl: ${n.op} with f16 storage needs shader-f16, which the device lacks`);
  }
  return spec;
}
