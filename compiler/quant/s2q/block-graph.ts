import { graph, substitute, type Graph } from '../../../ir/graph.ts';
import { node, type Node } from '../../../ir/node.ts';
import type { ActFormat } from '../../../ir/quant.ts';
import { tensorType } from '../../../ir/types.ts';
import { blockInput } from '../../calib/calib-graph.ts';
import { buildDiT } from '../../model/dit.ts';
import type { VDiTConfig } from '../../model/config.ts';
import { linearsByInput } from '../linear-stats.ts';
import { planLinears, type QuantConfig } from '../spec.ts';
import { kronDims } from './kron.ts';

/*
 * One transformer block as its own graph, the unit S²Q-VDiT trains (PAPER.md §1 step 4): inputs `h` (the block's
 * input tokens [B, N, D], from the calibration store), `t` and `y` (the block's adaLN conditioning is computed from
 * them by the model's own embedders), output the block's output [B, N, D]. Its quantized linears fall into groups
 * by the activation they read (q, k and v share one): a token group [B, N, K] gets the learned Kronecker transform,
 * balancing scale and activation clip; a row group (silu(c) → adaLN, [B, K]) only the weight clip.
 */

export interface LinearGroup {
  /** the FP activation the linears read */
  readonly x: Node;
  readonly linears: readonly Node[];
  /** weight param names, in graph order */
  readonly weights: readonly string[];
  /** the first weight: names the group's learned tensors and deploy params */
  readonly first: string;
  readonly k: number;
  readonly kind: 'kron' | 'row';
  readonly dims: readonly [number, number];
  readonly wBits: ReadonlyMap<string, number>;
  readonly aBits: number;
  /**
   * e4m3 when every linear of the group reads FP8 activations (w4a8-fp8); the group shares one fake-quantized x̂,
   * so a group mixing formats (only a user override can) distills against the integer grid at the largest aBits
   */
  readonly aFormat: ActFormat;
}

export interface BlockGraph {
  readonly block: number;
  readonly graph: Graph;
  readonly groups: readonly LinearGroup[];
}

export function blockGraph(cfg: VDiTConfig, block: number, config: QuantConfig): BlockGraph {
  const full = buildDiT(cfg, { stopAfterBlock: block });
  const hin = blockInput(cfg, block);
  const h = node('input', [], { name: 'h' }, hin.type);
  const cut = substitute(full, new Map([[hin, h]]));
  const keep = cut.inputs.filter((n) => n.attrs['name'] === 't' || n.attrs['name'] === 'y');
  const g = graph(`${cfg.name}.block${block}`, [h, ...keep], cut.outputs);
  const prefix = `blocks.${block}.`;
  const planned = planLinears(g, config).quantized.filter((p) => String(p.weight.attrs['name']).startsWith(prefix));
  const spec = new Map(planned.map((p) => [p.weight.attrs['name'] as string, p.spec]));
  const groups: LinearGroup[] = [];
  for (const [x, lins] of linearsByInput(g, new Set(spec.keys()))) {
    const weights = lins.map((l) => l.src[1]!.attrs['name'] as string);
    const k = x.type.shape.at(-1)!;
    const aBits = Math.max(...weights.map((w) => spec.get(w)!.aBits));
    const aFormat = weights.every((w) => spec.get(w)!.aFormat === 'e4m3') ? 'e4m3' : 'int';
    const kind = x.type.shape.length === 3 ? 'kron' : 'row';
    groups.push({
      x, linears: lins, weights, first: weights[0]!, k, kind, dims: kronDims(k), aBits, aFormat,
      wBits: new Map(weights.map((w) => [w, spec.get(w)!.wBits])),
    });
  }
  return { block, graph: g, groups };
}

/** A named f32 graph input. */
export function leaf(name: string, shape: readonly number[]): Node {
  return node('input', [], { name }, tensorType('f32', shape));
}

/** x̃ = vec_r(L · reshape(x·s) · R) over the last axis of x, with L = P1ᵀ and R = P2 (kron.ts). */
export function kronInput(x: Node, s: Node, l: Node, r: Node, dims: readonly [number, number]): Node {
  const shape = x.type.shape;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const x3 = node('reshape', [node('mul', [x, s])], { shape: [rows, dims[0], dims[1]] });
  return node('reshape', [node('matmul', [l, node('matmul', [x3, r])])], { shape: [...shape] });
}

/** W̃ = vec_r(Lw · reshape(W / s) · Rw) per output row, with Lw = P1⁻¹ and Rw = P2⁻ᵀ. */
export function kronWeight(w: Node, s: Node, lw: Node, rw: Node, dims: readonly [number, number]): Node {
  const [n, k] = w.type.shape as [number, number];
  const w3 = node('reshape', [node('div', [w, s])], { shape: [n, dims[0], dims[1]] });
  return node('reshape', [node('matmul', [lw, node('matmul', [w3, rw])])], { shape: [n, k] });
}
