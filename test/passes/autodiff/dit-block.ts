import { GraphBuilder } from '../../../ir/builder.ts';
import type { Graph, Node } from '../../../ir/index.ts';
import { mse } from '../../../passes/autodiff/mse.ts';
import type { Range } from './grad-check.ts';

export const DIT = { B: 2, N: 6, D: 12, HEADS: 2, HIDDEN: 16, GRID: [1, 2, 3] as const, ROPE: [2, 2, 2] as const };

/**
 * A small adaLN-Zero DiT block: layernorm → modulate → qkv linear → rope3d → attention → proj → gate → residual,
 * then layernorm → modulate → linear → gelu(tanh) → linear → gate → residual. Conditioning c[B, D] feeds the six
 * modulation vectors through silu → linear.
 */
export function ditBlock(b: GraphBuilder): { x: Node; y: Node } {
  const { B, N, D, HEADS, HIDDEN } = DIT;
  const x = b.input('x', [B, N, D]);
  const c = b.input('c', [B, D]);
  const mods = b.linear(b.silu(c), 'adaln', 6 * D, { std: 0.3 });
  const [sh1, sc1, g1, sh2, sc2, g2] = b.chunk(mods, 6, 1) as [Node, Node, Node, Node, Node, Node];
  const h = b.modulate(b.layerNorm(x), sh1, sc1);
  const [q, k, v] = b.chunk(b.linear(h, 'qkv', 3 * D, { std: 0.3 }), 3, 2).map((t) => b.splitHeads(t, HEADS)) as
    [Node, Node, Node];
  const rope = { grid: DIT.GRID, dims: DIT.ROPE, theta: 100 };
  const att = b.attention(b.rope3d(q, rope), b.rope3d(k, rope), v);
  const x1 = b.add(x, b.gate(b.linear(b.mergeHeads(att), 'proj', D, { std: 0.3 }), g1));
  const h2 = b.modulate(b.layerNorm(x1), sh2, sc2);
  const m = b.linear(b.gelu(b.linear(h2, 'fc1', HIDDEN, { std: 0.3 }), 'tanh'), 'fc2', D, { std: 0.3 });
  return { x, y: b.add(x1, b.gate(m, g2)) };
}

/** The block alone (output y). */
export function ditGraph(): Graph {
  const b = GraphBuilder.create('dit');
  return b.build(ditBlock(b).y);
}

/** The λ-weighted per-token MSE between the block output and a target, λ[B, N] an input. */
export function ditLossGraph(): Graph {
  const b = GraphBuilder.create('dit_mse');
  const { y } = ditBlock(b);
  const target = b.input('target', [DIT.B, DIT.N, DIT.D]);
  const lam = b.input('lambda', [DIT.B, DIT.N]);
  return b.build(mse(b, y, target, lam));
}

export const DIT_PARAMS = ['adaln', 'qkv', 'proj', 'fc1', 'fc2'].flatMap((p) => [`${p}.weight`, `${p}.bias`]);

/** Weights small enough to keep activations O(1); positive token weights. */
export const DIT_RANGES: Readonly<Record<string, Range>> = {
  ...Object.fromEntries(DIT_PARAMS.map((p) => [p, [-0.5, 0.5] as const])), lambda: [0.2, 2],
};
