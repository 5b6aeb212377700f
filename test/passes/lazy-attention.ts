import { mulberry32 } from '../../compiler/data/prng.ts';
import { withCarries } from '../../ir/carry.ts';
import { graph, type Graph } from '../../ir/graph.ts';
import { node, type Node } from '../../ir/node.ts';
import { tensorType } from '../../ir/types.ts';
import { poolKeyTiles } from '../../passes/prune-online.ts';
import { residualAttention, residualPlan } from '../../passes/prune-residual.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';

/**
 * One attention in the cache=lazy residual form (passes/prune-residual.ts) over the schedule [1, keep, keep] with
 * bounds [0.7, 0.3] (t 0.9: a dense step, 0.5: the first pruned step, which selects, 0.1: a pruned step), its
 * carries as graph outputs; `extra` outputs besides (the lists, the dense attention) for tests that read them.
 */
export function lazyAttention(
  [b, h, n, d, tile] = [1, 2, 32, 8, 4], keep = 0.25, extra = false,
): { g: Graph; q: Node; select: Node; attn: Node; param: { name: string; data: Tensor }; inputs: (seed: number) => Record<string, Tensor> } {
  const leaf = (name: string, shape: number[]): Node => node('input', [], { name }, tensorType('f32', shape));
  const [q, k, v, t] = [leaf('q', [b, h, n, d]), leaf('k', [b, h, n, d]), leaf('v', [b, h, n, d]), leaf('t', [b])];
  const scale = 1 / Math.sqrt(d);
  const attn = node('attention', [q, k, v], { scale });
  const [plan, bounds] = [residualPlan([1, keep, keep], 'lazy'), [0.7, 0.3]];
  const select = node('tile_select', [q, poolKeyTiles(k, tile), t],
    { tile, keeps: [...plan.selectKeeps], bounds, keepFirst: 0, scale, keys: n });
  const block = residualAttention(0, attn, q, k, v, select, t, plan, tile, bounds);
  const g = withCarries(graph('lazy', [q, k, v, t], [block.out, ...(extra ? [select, attn] : [])]), block.carries);
  const inputs = (seed: number): Record<string, Tensor> => {
    const r = mulberry32(seed);
    const rand = (): Tensor => tensor(q.type, Float32Array.from({ length: b * h * n * d }, () => 2 * r.next() - 1));
    return { q: rand(), k: rand(), v: rand() };
  };
  return { g, q, select, attn, param: block.param, inputs };
}
