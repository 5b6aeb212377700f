import { node, toposort, type Graph, type Node } from '../ir/index.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { createContext } from './pass.ts';
import { any, pat, rewriteGraph, rule } from './pattern.ts';

// What the static (prune-tokens.ts) and the online (prune-online.ts) token pruning share: finding each block's
// self-attention, checking the options, rewriting the planned blocks, and the report a build prints.

export interface PruneCommon {
  /** keys per tile (default 64) */
  readonly tile?: number;
  /** leading tokens (e.g. text) whose tiles are always kept */
  readonly keepFirst?: number;
  /** blocks whose self-attention stays dense at every step (the few a model is most sensitive in, e.g. block 0) */
  readonly dense?: readonly number[];
}

/** The tiles one block keeps in one range. */
export interface KeptTiles {
  /** kept tile indices, ascending */
  readonly keptTiles: readonly number[];
  readonly keptKeys: number;
  /** keptKeys / totalKeys: the fraction of K/V work left (the last tile may be partial) */
  readonly keptFraction: number;
}

export interface PrunedBlock {
  readonly block: number;
  readonly totalTiles: number;
  readonly totalKeys: number;
  /** one entry per schedule range (one when unscheduled) */
  readonly ranges: readonly KeptTiles[];
  /**
   * the mean of the ranges' fractions: the K/V work left over a sampling run whose steps split evenly (online: each
   * range weighted by its steps in a default sampler run, passes/prune-schedule.ts: rangeSteps)
   */
  readonly keptFraction: number;
  /** online: the tiles each query tile keeps, chosen at run time (ranges then list none; keys are an upper bound) */
  readonly online?: OnlineTiles;
}

export interface OnlineTiles {
  /** T': the most any range keeps */
  readonly tilesPerQueryTile: number;
  /** per schedule range (one when unscheduled) */
  readonly tilesPerRange: readonly number[];
  /** the default sampler's forwards in each range: the weights of keptFraction */
  readonly stepsPerRange: readonly number[];
  /** the queries that share one list (qtile) */
  readonly queryTile: number;
  /** residual reuse (prune-residual.ts): per range, whether it is dense and refreshes the carried residual */
  readonly refreshRanges?: readonly boolean[];
  /** cache=lazy: the dense ranges run no sparse part (their count is 0); the first pruned range after one anchors */
  readonly lazy?: boolean;
}

export interface PruneTokensResult {
  readonly graph: Graph;
  /** the tile-list params the new graph reads, by name */
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly report: readonly PrunedBlock[];
}

export const DEFAULT_PRUNE_TILE = 64;

/** The block whose self-attention `n` is (its q comes from a linear reading blocks.<i>.attn.q.weight), if any. */
export function selfAttentionBlock(n: Node): number | undefined {
  if (n.op !== 'attention') return undefined;
  let q = n.src[0]!;
  while (q.op !== 'linear' && q.src.length > 0) q = q.src[0]!;
  const m = /^blocks\.(\d+)\.attn\.q\.weight$/.exec(String(q.src[1]?.attrs['name']));
  return m ? Number(m[1]) : undefined;
}

/** Each block's self-attention. */
export function blockSelfAttentions(g: Graph): Map<number, Node> {
  const found = new Map<number, Node>();
  for (const n of toposort(g)) {
    const block = selfAttentionBlock(n);
    if (block === undefined) continue;
    if (found.has(block)) throw new Error(`prune-tokens: block ${block} has two self-attentions`);
    found.set(block, n);
  }
  return found;
}

/** R ranges need R − 1 finite, strictly descending timestep bounds. */
export function checkSchedule(ranges: number, bounds: readonly number[]): void {
  if (ranges < 1) throw new Error('prune-tokens: a schedule needs at least one range');
  if (bounds.length !== ranges - 1) {
    throw new Error(`prune-tokens: ${ranges} ranges need ${ranges - 1} timestep bounds, got ${bounds.length}`);
  }
  bounds.forEach((b, i) => {
    if (!Number.isFinite(b) || (i > 0 && !(b < bounds[i - 1]!))) {
      throw new Error(`prune-tokens: bounds must be finite and strictly descending, got [${bounds.join(', ')}]`);
    }
  });
}

/** The dense blocks, each one that has a self-attention. */
export function denseBlocks(dense: readonly number[] | undefined, found: ReadonlyMap<number, Node>): ReadonlySet<number> {
  const stray = (dense ?? []).filter((b) => !found.has(b));
  if (stray.length) {
    const have = [...found.keys()].sort((a, b) => a - b);
    throw new Error(`prune-tokens: dense block(s) ${stray.join(', ')} have no self-attention (blocks ${have[0]}..${have.at(-1)})`);
  }
  return new Set(dense);
}

/** Every keep in (0, 1], tile ≥ 1, keepFirst ≥ 0 (integers). */
export function checkOptions(ranges: readonly { readonly keep: number }[], tile: number, keepFirst: number): void {
  for (const { keep } of ranges) {
    if (!(typeof keep === 'number' && keep > 0 && keep <= 1)) {
      throw new Error(`prune-tokens: keep must be in (0, 1], got ${keep}`);
    }
  }
  if (!(Number.isInteger(tile) && tile >= 1)) {
    throw new Error(`prune-tokens: tile must be an integer ≥ 1, got ${tile}`);
  }
  if (!(Number.isInteger(keepFirst) && keepFirst >= 0)) {
    throw new Error(`prune-tokens: keepFirst must be an integer ≥ 0, got ${keepFirst}`);
  }
}

/** The graph input `t` a scheduled sparse_attention reads: f[B] with B the attention's batch. */
export function timestepInput(g: Graph, batch: number): Node {
  const t = g.inputs.find((n) => n.attrs['name'] === 't');
  if (!t || t.type.shape.length !== 1 || t.type.shape[0] !== batch) {
    const got = t ? `its t is [${t.type.shape.join(', ')}]` : 'it has no input t';
    throw new Error(`prune-tokens: a schedule needs the graph input t: f[${batch}] (the timestep); ${got}`);
  }
  return t;
}

/** The one-rule rewrite of the planned blocks' self-attentions; throws unless each was rewritten once. */
export function rewriteBlocks(g: Graph, planned: ReadonlySet<number>, build: (n: Node, q: Node, k: Node, v: Node) => Node): Graph {
  // a rule, not substitute(): block i's attention must be rebuilt over block i − 1's already pruned output
  const rules = [rule('sparse-attention', pat('attention', [any('q'), any('k'), any('v')]), ({ q, k, v }, n) =>
    (planned.has(selfAttentionBlock(n) ?? -1) ? build(n, q, k, v) : undefined))];
  const ctx = createContext();
  const out = planned.size ? rewriteGraph(g, rules, ctx, { fixedPoint: false }) : g;
  const done = ctx.stats.get('sparse-attention') ?? 0;
  if (done !== planned.size) throw new Error(`prune-tokens: rewrote ${done} self-attentions, planned ${planned.size}`);
  return out;
}
