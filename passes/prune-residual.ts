import { keyTiles } from '../ir/infer-sparse-attention.ts';
import { CARRY_PREFIX, node, tensorType, type Node } from '../ir/index.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';

/*
 * Residual reuse for online pruning (`--prune schedule=…,select=online,cache=residual`; DiTFastAttn's residual
 * caching with online tile lists): at a pruned step a block's attention is its sparse attention plus the residual
 * R = dense − sparse of the last dense step, which the graph carries from forward to forward (ir/carry.ts):
 *
 *   S  = sparse_attention(q, k, v, tile_select{keeps: K}(q, k̄, t))   K: each pruned range's budget; a dense range
 *                                                                    takes the budget of the next pruned range, or
 *                                                                    0 (no tiles, S = 0) when a dense range follows
 *   D  = sparse_attention{bounds}(q, k, v, refresh_tiles, t)         every key tile in dense ranges, none (0) else
 *   R' = a·R + w·(D − S)                                             w = schedule_value{1 in dense ranges, else 0}(t),
 *                                                                    a = schedule_value{1 − w}(t): exact selects
 *   attention → S + R'                                               D in dense ranges, S + R in pruned ones
 *
 * R is the graph input carry.blocks.<i>.attn and R' its next value, a graph output after the model's own. A dense
 * step costs 1 + K of dense attention, a pruned one K. The first range must be dense (R is written before it is
 * read) and the last must prune (a dense range refreshes R for the pruned ranges after it).
 *
 * `cache=frozen` carries the dense step's tile lists too (carry.blocks.<i>.lists), and the pruned steps attend over
 * those instead of selecting afresh (their tile_select keeps 0): S and R then cover the same tiles. With lists chosen
 * afresh the carried residual belongs to other tiles and costs quality; frozen, it recovers it
 * (bench/results/prune.md).
 *
 * `cache=lazy` is frozen with the residual taken one step later, so that a dense step costs only D: a dense step
 * carries R' = D and computes no S (its lists are empty); the first pruned step after it selects its lists (carried
 * from then on), computes S over them and carries R' = R − S = D_prev − S, outputting R = D_prev (the last dense
 * step's attention); the pruned steps after it output S + R and carry R. As selects on the step's flags,
 *
 *   R'  = where(w, D, where(u, R − S, R))      u: 1 at the first pruned step after a dense one
 *   out = where(w, D, where(u, R, S + R))
 *
 * The S of a dense step, a launch over the pruned budget, is what it saves; the selects let each step's tail read
 * only the tensors it keeps.
 */

/** The per-range budgets and flags of a residual schedule; throws on a schedule residual reuse cannot serve. */
export interface ResidualPlan {
  /** the sparse budget per range: the range's keep; for a dense range the next pruned range's, 0 before a dense one */
  readonly sparseKeeps: readonly number[];
  /** per range: 1 where the range is dense (refreshes R), else 0 */
  readonly refresh: readonly number[];
  /** pruned steps reuse the dense step's tile lists too (carried), so that S and R cover the same tiles */
  readonly frozen: boolean;
  /** tile_select's keeps: sparseKeeps, but 0 in the pruned ranges of a frozen plan (their lists are carried) */
  readonly selectKeeps: readonly number[];
  /** lazy (implies frozen): dense ranges compute no S; the first pruned range after one anchors the residual */
  readonly lazy: boolean;
  /** per range: 1 where S is taken from the residual (u above): the dense ranges, or lazy the first pruned ones */
  readonly anchor: readonly number[];
}

export type ResidualMode = 'residual' | 'frozen' | 'lazy';

export function residualPlan(keeps: readonly number[], mode: ResidualMode = 'residual'): ResidualPlan {
  const why = 'cache=residual refreshes the residual in the dense (keep 1) ranges for the pruned ranges after them';
  if (keeps[0] !== 1) throw new Error(`prune-tokens: cache=${mode} needs a dense first range (keep 1): ${why}`);
  if (keeps.at(-1)! >= 1) throw new Error(`prune-tokens: cache=${mode} needs a pruned last range (keep < 1): ${why}`);
  const refresh = keeps.map((keep) => (keep === 1 ? 1 : 0));
  const [frozen, lazy] = [mode !== 'residual', mode === 'lazy'];
  if (lazy) {
    // no S at dense steps; the first pruned step after one selects the lists and anchors the residual
    const anchor = keeps.map((keep, r) => (keep < 1 && keeps[r - 1] === 1 ? 1 : 0));
    const sparseKeeps = keeps.map((keep) => (keep < 1 ? keep : 0));
    return { sparseKeeps, refresh, frozen, lazy, anchor, selectKeeps: sparseKeeps.map((k, r) => (anchor[r] ? k : 0)) };
  }
  // a dense range before another dense one needs no sparse part: S = 0 there, and R = D is overwritten next
  const sparseKeeps = keeps.map((keep, r) => (keep < 1 ? keep : keeps[r + 1] === 1 ? 0 : keeps.slice(r).find((k) => k < 1)!));
  const selectKeeps = frozen ? sparseKeeps.map((k, r) => (refresh[r] ? k : 0)) : sparseKeeps;
  return { sparseKeeps, refresh, frozen, selectKeeps, lazy, anchor: refresh };
}

/** The name of block i's carried residual. */
export const residualCarry = (block: number): string => `${CARRY_PREFIX}blocks.${block}.attn`;

/** The name of block i's refresh lists param: i32[R, KT], every tile in dense ranges, −1 only in pruned ones. */
export const refreshTilesParam = (block: number): string => `blocks.${block}.attn.refresh_tiles`;

/** The name of block i's carried tile lists (frozen plans). */
export const listsCarry = (block: number): string => `${CARRY_PREFIX}blocks.${block}.lists`;

/** What residualAttention builds for one block: its output, its carries (input and next value) and its param. */
export interface ResidualBlock {
  readonly out: Node;
  readonly carries: readonly { readonly input: Node; readonly next: Node }[];
  readonly param: { readonly name: string; readonly data: Tensor };
}

/**
 * Block `block`'s attention n = attention{scale}(q, k, v) in residual form (the comment above), given the online
 * lists (tile_select) and the timestep input t with the schedule's bounds; `qtile` as the sparse op's attributes.
 * A frozen plan carries the lists too (as L + 1: the zero state holds no lists): L = P + w·(lists − P) with
 * P = L_in − 1, the fresh lists at dense steps, else the carried ones.
 */
export function residualAttention(
  block: number, n: Node, q: Node, k: Node, v: Node, lists: Node, t: Node, plan: ResidualPlan, tile: number,
  bounds: readonly number[], qtile: { readonly qtile?: number } = {},
): ResidualBlock {
  const kt = keyTiles(k.type.shape[2]!, tile);
  const rows = plan.refresh.flatMap((w) => Array.from({ length: kt }, (_, j) => (w ? j : -1)));
  const name = refreshTilesParam(block);
  const all = node('param', [], { name }, tensorType('i32', [plan.refresh.length, kt]));
  const scale = n.attrs['scale']!;
  const dense = node('sparse_attention', [q, k, v, all, t], { scale, tile, bounds: [...bounds] });
  const b = n.type.shape[0]!;
  const flag = (values: readonly number[]): Node =>
    node('reshape', [node('schedule_value', [t], { values: [...values], bounds: [...bounds] })], { shape: [b, 1, 1, 1] });
  const carries: { input: Node; next: Node }[] = [];
  const when = (values: readonly number[]): Node => node('cast', [flag(values)], { to: 'bool' });
  let used = lists;
  if (plan.frozen) {
    // carried as lists + 1, so that the zero state (before any dense step) reads as −1 only: empty lists, S = 0;
    // fresh where selected (lazy: at dense steps too, whose selection is empty, so that they compute no S)
    const one = node('const', [], { value: 1 }, tensorType('i32', [1]));
    const input = node('input', [], { name: listsCarry(block) }, lists.type);
    const prev = node('sub', [input, one]);
    used = plan.lazy
      ? node('where', [when(plan.refresh.map((w, r) => Math.max(w, plan.anchor[r]!))), lists, prev])
      : node('add', [prev, node('mul', [node('sub', [lists, prev]), node('cast', [flag(plan.refresh)], { to: 'i32' })])]);
    carries.push({ input, next: node('add', [used, one]) });
  }
  const sparse = node('sparse_attention', [q, k, v, used], { scale, tile, ...qtile });
  const input = node('input', [], { name: residualCarry(block) }, n.type);
  if (plan.lazy) {
    // selects, so that each step reads only what it keeps (a CUDA where loads its taken side only): a dense step
    // reads D, the first pruned one R and S, the others R (and S for the output)
    const [w, u] = [when(plan.refresh), when(plan.anchor)];
    const next = node('where', [w, dense, node('where', [u, node('sub', [input, sparse]), input])]);
    const out = node('where', [w, dense, node('where', [u, input, node('add', [sparse, input])])]);
    return { out, carries: [{ input, next }, ...carries], param: { name, data: tensor(all.type, Int32Array.from(rows)) } };
  }
  const next = node('add', [
    node('mul', [input, flag(plan.refresh.map((w) => 1 - w))]),
    node('mul', [node('sub', [dense, sparse]), flag(plan.refresh)]),
  ]);
  return {
    out: node('add', [sparse, next]), carries: [{ input, next }, ...carries],
    param: { name, data: tensor(all.type, Int32Array.from(rows)) },
  };
}
