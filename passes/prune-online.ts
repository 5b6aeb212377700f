import { keyTiles } from '../ir/infer-sparse-attention.ts';
import { selectedTiles } from '../ir/infer-tile-select.ts';
import { node, withCarries, type Graph, type Node } from '../ir/index.ts';
import type { Tensor } from '../runtime/tensor.ts';
import {
  blockSelfAttentions, checkOptions, checkSchedule, DEFAULT_PRUNE_TILE, denseBlocks, rewriteBlocks, selfAttentionBlock,
  timestepInput,
  type PruneCommon, type PrunedBlock, type PruneTokensResult,
} from './prune-blocks.ts';
import { residualAttention, residualPlan, type ResidualBlock, type ResidualPlan } from './prune-residual.ts';
import { rangeSteps } from './prune-schedule.ts';

/*
 * Online token pruning: the tiles are chosen per sample at run time instead of from a calibration store
 * (prune-tokens.ts), per (batch, head, query tile):
 *
 *   attention{scale}(q, k, v)  →  sparse_attention{scale, tile}(q, k, v, tile_select{tile, keep, keepFirst, scale}(q, k))
 *
 * since which keys matter moves with the sample, the head and the query region, which one calibrated list misses.
 * With a schedule (keeps + bounds) tile_select also reads the graph input t and keeps its range's budget per sample.
 * tile_select takes its pooled form, k̄ = the tile means of k computed once per head by existing ops (poolKeyTiles),
 * so that each query tile reads KT rows of k̄ instead of all Nk keys (QT× the bytes of K per head otherwise).
 * `qtile` sets the queries that share one list (both ops' attribute, default tile); `dense` blocks stay whole;
 * `residual` adds, at pruned steps, the residual dense − sparse carried from the last dense step, and 'frozen' prunes
 * those steps by that step's lists too; 'lazy' takes both at the first pruned step (prune-residual.ts).
 */

/**
 * An online budget per timestep range: keeps in sampling order (noisiest first, the largest t) and the R − 1
 * descending bounds between the ranges (passes/prune-schedule.ts: samplerBounds).
 */
export interface OnlineSchedule {
  readonly keeps: readonly number[];
  readonly bounds: readonly number[];
}

/**
 * Online selection (SpargeAttn / Sparse VideoGen): no importance; each block's self-attention picks its own tiles
 * per (batch, head, query tile) at run time by tile_select, from the pooled q and k of that very forward. `keep`
 * (in (0, 1]) is the fraction of key tiles each query tile keeps, at every step or per range of a schedule.
 */
export type OnlinePruneOptions = PruneCommon & {
  readonly online: true;
  /** queries per selection (default tile): 128 lets the CUDA tensor-core kernel run 8-warp blocks on a list */
  readonly qtile?: number;
  /**
   * reuse the last dense step's residual (dense − sparse) at pruned steps: needs a schedule, dense first; 'frozen'
   * reuses that step's tile lists too; 'lazy' takes the residual and lists at the first pruned step instead
   */
  readonly residual?: boolean | 'frozen' | 'lazy';
} & ({ readonly keep: number } | OnlineSchedule);

/** The smallest key group poolKeyTiles averages first when Nk is no multiple of the tile (else it slices k). */
export const POOL_GROUP_MIN = 8;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * k̄[B, H, ceil(Nk/tile), D], the means of k's key tiles, in existing ops: reshape [B, H, KT, tile, D] and
 * reduce_mean over axis 3 for the whole tiles, the partial last tile by reduce_mean{keepdims} over its keys, then
 * concat on the token axis. When Nk is no multiple of the tile, k is first averaged in groups of g = gcd(Nk, tile)
 * keys (a reshape, no copy) where g ≥ POOL_GROUP_MIN, and the tiles average their tile/g group means (equal
 * weights, so the same means): only the g-fold smaller group means are sliced, not k (a 0.12 ms copy per
 * self-attention and step at cogvideox-2b's 17776 keys, bench/results/prune.md); else k itself is sliced.
 */
export function poolKeyTiles(k: Node, tile: number): Node {
  const [b, h, nk, d] = k.type.shape as [number, number, number, number];
  const whole = Math.floor(nk / tile);
  const means = (x: Node, rows: number, per: number): Node =>
    node('reduce_mean', [node('reshape', [x], { shape: [b, h, rows, per, d] })], { axes: [3], keepdims: false });
  if (whole * tile === nk) return means(k, whole, tile);
  const g = gcd(nk, tile);
  const [src, unit] = g >= POOL_GROUP_MIN && whole > 0 ? [means(k, nk / g, g), g] : [k, 1];
  const [split, end] = [(whole * tile) / unit, nk / unit];
  const rest = node('slice', [src], { axis: 2, start: split, end, step: 1 });
  const last = node('reduce_mean', [rest], { axes: [2], keepdims: true });
  if (whole === 0) return last;
  const head = node('slice', [src], { axis: 2, start: 0, end: split, step: 1 });
  return node('concat', [means(head, whole, tile / unit), last], { axis: 2 });
}

/**
 * Online form: attention(q, k, v) → sparse_attention{scale, tile}(q, k, v, tile_select{tile, keep, keepFirst,
 * scale, keys: Nk}(q, k̄)) per block with k̄ = poolKeyTiles(k), or with a schedule tile_select{tile, keeps, bounds,
 * keepFirst, scale, keys}(q, k̄, t); no tensors. A block whose budget keeps every tile in every range stays dense.
 */
export function pruneTokensOnline(g: Graph, opts: OnlinePruneOptions): PruneTokensResult {
  const { tile = DEFAULT_PRUNE_TILE, keepFirst = 0, qtile = tile } = opts;
  const { keeps, bounds } = 'keeps' in opts ? opts : { keeps: [opts.keep], bounds: [] };
  checkSchedule(keeps.length, bounds);
  checkOptions(keeps.map((keep) => ({ keep })), tile, keepFirst);
  if (!(Number.isInteger(qtile) && qtile >= 1)) throw new Error(`prune-tokens: qtile must be an integer ≥ 1, got ${qtile}`);
  const plan = opts.residual ? residualPlan(keeps, opts.residual === true ? 'residual' : opts.residual) : undefined;
  const budgets = plan?.sparseKeeps ?? keeps;
  // frozen lists are selected at dense steps only: a pruned range's tile_select keeps nothing (its rows −1, no work)
  const selectKeeps = plan?.selectKeeps ?? keeps;
  const steps = rangeSteps(bounds);
  const found = blockSelfAttentions(g);
  const dense = denseBlocks(opts.dense, found);
  const planned = new Set<number>();
  const report = [...found.keys()].sort((a, b) => a - b).map((block) => {
    const a = found.get(block)!;
    const nk = a.src[1]!.type.shape[2]!;
    const counts = budgets.map((keep) =>
      selectedTiles(nk, { tile, keep: dense.has(block) ? 1 : keep, keepFirst, scale: 1 }));
    const pruned = counts.some((c) => c < keyTiles(nk, tile));
    if (pruned) {
      if (a.src.length > 3) throw new Error(`prune-tokens: block ${block} self-attention has a mask; sparse_attention takes none`);
      planned.add(block);
    }
    return onlineReport(block, nk, tile, counts, steps, qtile, pruned ? plan : undefined);
  });
  const t = keeps.length > 1 && planned.size ? timestepInput(g, [...found.values()][0]!.type.shape[0]!) : undefined;
  // qtile = tile is the attribute's default: left out, so such graphs print as before
  const q2 = qtile === tile ? {} : { qtile };
  const built: ResidualBlock[] = [];
  const rewritten = rewriteBlocks(g, planned, (n, q, k, v) => {
    const [scale, keys, kbar] = [n.attrs['scale']!, k.type.shape[2]!, poolKeyTiles(k, tile)];
    const select = t
      ? node('tile_select', [q, kbar, t], { tile, ...q2, keeps: [...selectKeeps], bounds: [...bounds], keepFirst, scale, keys })
      : node('tile_select', [q, kbar], { tile, ...q2, keep: keeps[0]!, keepFirst, scale, keys });
    if (!plan) return node('sparse_attention', [q, k, v, select], { scale, tile, ...q2 });
    const r = residualAttention(selfAttentionBlock(n)!, n, q, k, v, select, t!, plan, tile, bounds, q2);
    built.push(r);
    return r.out;
  });
  // carries in block order, whatever order the rewrite met the blocks in
  const name = (c: { readonly input: Node }): string => String(c.input.attrs['name']);
  const carried = built.flatMap((r) => r.carries).sort((x, y) => name(x).localeCompare(name(y), 'en', { numeric: true }));
  const graph = built.length ? withCarries(rewritten, carried) : rewritten;
  const tensors = new Map<string, Tensor>(built.map((r) => [r.param.name, r.param.data]));
  return { graph, tensors, report };
}

/**
 * An online block's report: per range the keys its query tiles may read (with residual reuse a dense range reads all
 * keys besides: 1 + its sparse fraction); their mean weighted by sampler steps.
 */
function onlineReport(
  block: number, nk: number, tile: number, counts: readonly number[], steps: readonly number[], queryTile: number,
  plan?: ResidualPlan,
): PrunedBlock {
  const refresh = plan?.refresh;
  const ranges = counts.map((c, r) => {
    const keptKeys = Math.min(c * tile, nk) + (refresh?.[r] ? nk : 0);
    return { keptTiles: [], keptKeys, keptFraction: keptKeys / nk };
  });
  const total = steps.reduce((x, y) => x + y, 0);
  const keptFraction = ranges.reduce((acc, r, i) => acc + r.keptFraction * steps[i]!, 0) / total;
  return { block, totalTiles: keyTiles(nk, tile), totalKeys: nk, ranges, keptFraction,
    online: { tilesPerQueryTile: Math.max(...counts), tilesPerRange: counts, stepsPerRange: steps, queryTile,
      ...(refresh ? { refreshRanges: refresh.map((w) => w === 1) } : {}), ...(plan?.lazy ? { lazy: true } : {}) } };
}
