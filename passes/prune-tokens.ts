import type { StoreReader } from '../compiler/calib/store.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { keyTiles } from '../ir/infer-sparse-attention.ts';
import { selectedTiles, tileBudget } from '../ir/infer-tile-select.ts';
import { node, tensorType, toposort, type Graph, type Node } from '../ir/index.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import { createContext } from './pass.ts';
import { any, pat, rewriteGraph, rule } from './pattern.ts';
import { edgeBounds, rangeSteps, scheduleEdges } from './prune-schedule.ts';

/*
 * Token pruning of self-attention K/V in whole tiles (Sparse VideoGen / Sliding Tile Attention: ragged masks cut
 * FLOPs, not time; Q stays dense):
 *
 *   attention{scale}(q, k, v)  →  sparse_attention{scale, tile}(q, k, v, param blocks.<i>.attn.kept_tiles: i32[T'])
 *
 * for the self-attention of each block i (the attention whose q comes from a linear reading blocks.<i>.attn.q.weight,
 * as compiler/calib/calib-graph.ts finds it). Key tile t scores Σ S_j over its keys, S being the block's attention
 * importance (attention_colsum, averaged over calibration samples); the ceil(keep·T) best tiles are kept, those
 * holding the first keepFirst tokens (text) always, counted in the budget. The tile list is data, so it is a param
 * whose tensor the pass returns: withTensors() lays it over the model's weights, which is all the reference and the
 * WGSL executor need (compiled folders read params from the same Weights; not exercised here). This is why the pass
 * is a function and not a registered pipeline pass: a registered pass returns only a graph, and its new params would
 * be missing from every Weights source.
 *
 * Online (pruneTokensOnline): the tiles are chosen per sample at run time instead, per (batch, head, query tile):
 *
 *   attention{scale}(q, k, v)  →  sparse_attention{scale, tile}(q, k, v, tile_select{tile, keep, keepFirst, scale}(q, k))
 *
 * since which keys matter moves with the sample, the head and the query region, which one calibrated list misses.
 * With a schedule (keeps + bounds) tile_select also reads the graph input t and keeps its range's budget per sample.
 * tile_select takes its pooled form, k̄ = the tile means of k computed once per head by existing ops (poolKeyTiles),
 * so that each query tile reads KT rows of k̄ instead of all Nk keys (QT× the bytes of K per head otherwise).
 */

/** One budget: the fraction of key tiles kept per block and the importance that ranks them. */
export interface PruneRange {
  /** in (0, 1]; 1 keeps every tile */
  readonly keep: number;
  /** block index → S per key (length Nk), averaged over calibration samples */
  readonly importance: ReadonlyMap<number, ArrayLike<number>>;
}

interface PruneCommon {
  /** keys per tile (default 64) */
  readonly tile?: number;
  /** leading tokens (e.g. text) whose tiles are always kept */
  readonly keepFirst?: number;
}

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
export type OnlinePruneOptions = PruneCommon & { readonly online: true } & ({ readonly keep: number } | OnlineSchedule);

/**
 * One budget for every timestep, or a schedule: ranges in sampling order (noisiest first, t falling) with the
 * R − 1 descending timestep bounds between them; each block then carries one tile list per range and its
 * sparse_attention picks the row of the graph input `t` at run time (ir/ops.ts, the scheduled form). Or online.
 */
export type PruneTokensOptions = OnlinePruneOptions | PruneCommon & (PruneRange | {
  readonly ranges: readonly PruneRange[];
  readonly bounds: readonly number[];
});

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
}

export interface PruneTokensResult {
  readonly graph: Graph;
  /** the tile-list params the new graph reads, by name */
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly report: readonly PrunedBlock[];
}

export const DEFAULT_PRUNE_TILE = 64;

export const keptTilesParam = (block: number): string => `blocks.${block}.attn.kept_tiles`;


/** The kept tiles of one block, ascending: forced tiles (holding keys < keepFirst) first, then by score, ties low. */
export function chooseTiles(s: ArrayLike<number>, keep: number, tile: number, keepFirst = 0): number[] {
  const total = keyTiles(s.length, tile);
  const score = new Float64Array(total);
  for (let j = 0; j < s.length; j++) score[Math.floor(j / tile)]! += s[j]!;
  const forced = keyTiles(Math.min(keepFirst, s.length), tile);
  const budget = Math.max(tileBudget(keep, total), forced);
  const rest = Array.from({ length: total - forced }, (_, i) => forced + i)
    .sort((a, b) => score[b]! - score[a]! || a - b)
    .slice(0, budget - forced);
  return [...Array.from({ length: forced }, (_, i) => i), ...rest].sort((a, b) => a - b);
}

/** The block whose self-attention `n` is (its q comes from a linear reading blocks.<i>.attn.q.weight), if any. */
function selfAttentionBlock(n: Node): number | undefined {
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

/** The ranges and bounds of either calibrated form of the options. */
function rangesOf(o: Exclude<PruneTokensOptions, OnlinePruneOptions>): { ranges: readonly PruneRange[]; bounds: readonly number[] } {
  if (!('ranges' in o)) return { ranges: [o], bounds: [] };
  checkSchedule(o.ranges.length, o.bounds);
  return o;
}

function checkSchedule(ranges: number, bounds: readonly number[]): void {
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

function checkOptions(ranges: readonly { readonly keep: number }[], tile: number, keepFirst: number): void {
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

function importanceOf(o: PruneRange, block: number, a: Node): ArrayLike<number> {
  const fail = (msg: string): never => {
    throw new Error(`prune-tokens: block ${block} ${msg}`);
  };
  const given = [...o.importance.keys()].join(', ') || 'none';
  const s = o.importance.get(block) ?? fail(`has no importance (given: ${given})`);
  const nk = a.src[1]!.type.shape[2]!;
  if (s.length !== nk) fail(`importance has ${s.length} keys, its attention ${nk}`);
  for (let j = 0; j < nk; j++) if (!Number.isFinite(s[j]!)) fail(`importance S[${j}] = ${s[j]} is not finite`);
  if (a.src.length > 3) fail(`self-attention has a mask; sparse_attention takes none`);
  return s;
}

function blockReport(block: number, rows: readonly (readonly number[])[], nk: number, tile: number): PrunedBlock {
  const ranges = rows.map((kept) => {
    const keptKeys = kept.reduce((acc, t) => acc + Math.min(tile, nk - t * tile), 0);
    return { keptTiles: kept, keptKeys, keptFraction: keptKeys / nk };
  });
  const keptFraction = ranges.reduce((a, r) => a + r.keptFraction, 0) / ranges.length;
  return { block, totalTiles: keyTiles(nk, tile), totalKeys: nk, ranges, keptFraction };
}

/** The tile-list param of one block: i32[T] for one range, else i32[R, T] with rows padded by −1 to the longest. */
function tileList(block: number, rows: readonly (readonly number[])[]): { list: Node; data: Tensor } {
  const name = keptTilesParam(block);
  const width = Math.max(...rows.map((r) => r.length));
  const shape = rows.length === 1 ? [width] : [rows.length, width];
  const list = node('param', [], { name }, tensorType('i32', shape));
  const data = Int32Array.from(rows.flatMap((r) => [...r, ...new Array<number>(width - r.length).fill(-1)]));
  return { list, data: tensor(list.type, data) };
}

/** The graph input `t` a scheduled sparse_attention reads: f[B] with B the attention's batch. */
function timestepInput(g: Graph, batch: number): Node {
  const t = g.inputs.find((n) => n.attrs['name'] === 't');
  if (!t || t.type.shape.length !== 1 || t.type.shape[0] !== batch) {
    const got = t ? `its t is [${t.type.shape.join(', ')}]` : 'it has no input t';
    throw new Error(`prune-tokens: a schedule needs the graph input t: f[${batch}] (the timestep); ${got}`);
  }
  return t;
}

/** Replaces each block's self-attention by sparse_attention over its best key tiles; see the comment above. */
export function pruneTokens(g: Graph, opts: PruneTokensOptions): PruneTokensResult {
  if ('online' in opts) return pruneTokensOnline(g, opts);
  const tile = opts.tile ?? DEFAULT_PRUNE_TILE;
  const keepFirst = opts.keepFirst ?? 0;
  const { ranges, bounds } = rangesOf(opts);
  checkOptions(ranges, tile, keepFirst);
  const found = blockSelfAttentions(g);
  const stray = [...new Set(ranges.flatMap((r) => [...r.importance.keys()]))].filter((b) => !found.has(b));
  if (stray.length) {
    throw new Error(`prune-tokens: importance for block(s) ${stray.join(', ')}, which have no self-attention`);
  }
  const lists = new Map<number, Node>();
  const tensors = new Map<string, Tensor>();
  const report = [...found.keys()].sort((a, b) => a - b).map((block) => {
    const a = found.get(block)!;
    const nk = a.src[1]!.type.shape[2]!;
    const rows = ranges.map((r) => chooseTiles(importanceOf(r, block, a), r.keep, tile, keepFirst));
    // every tile kept in every range: dense attention is the same function and cheaper
    if (rows.every((kept) => kept.length === keyTiles(nk, tile))) return blockReport(block, rows, nk, tile);
    const { list, data } = tileList(block, rows);
    tensors.set(keptTilesParam(block), data);
    lists.set(block, list);
    return blockReport(block, rows, nk, tile);
  });
  const t = ranges.length > 1 && lists.size ? timestepInput(g, [...found.values()][0]!.type.shape[0]!) : undefined;
  const out = rewriteBlocks(g, new Set(lists.keys()), (n, q, k, v) => {
    const [list, scale] = [lists.get(selfAttentionBlock(n)!)!, n.attrs['scale']!];
    return t ? node('sparse_attention', [q, k, v, list, t], { scale, tile, bounds: [...bounds] })
      : node('sparse_attention', [q, k, v, list], { scale, tile });
  });
  return { graph: out, tensors, report };
}

/** The one-rule rewrite of the planned blocks' self-attentions; throws unless each was rewritten once. */
function rewriteBlocks(g: Graph, planned: ReadonlySet<number>, build: (n: Node, q: Node, k: Node, v: Node) => Node): Graph {
  // a rule, not substitute(): block i's attention must be rebuilt over block i − 1's already pruned output
  const rules = [rule('sparse-attention', pat('attention', [any('q'), any('k'), any('v')]), ({ q, k, v }, n) =>
    (planned.has(selfAttentionBlock(n) ?? -1) ? build(n, q, k, v) : undefined))];
  const ctx = createContext();
  const out = planned.size ? rewriteGraph(g, rules, ctx, { fixedPoint: false }) : g;
  const done = ctx.stats.get('sparse-attention') ?? 0;
  if (done !== planned.size) throw new Error(`prune-tokens: rewrote ${done} self-attentions, planned ${planned.size}`);
  return out;
}

/**
 * k̄[B, H, ceil(Nk/tile), D], the means of k's key tiles, in existing ops: reshape [B, H, KT, tile, D] and
 * reduce_mean over axis 3 for the whole tiles (sliced off first when the last is partial), the partial last tile by
 * slice + reduce_mean{keepdims}, then concat on the token axis.
 */
export function poolKeyTiles(k: Node, tile: number): Node {
  const [b, h, nk, d] = k.type.shape as [number, number, number, number];
  const whole = Math.floor(nk / tile);
  const means = (x: Node, tiles: number): Node =>
    node('reduce_mean', [node('reshape', [x], { shape: [b, h, tiles, tile, d] })], { axes: [3], keepdims: false });
  if (whole * tile === nk) return means(k, whole);
  const rest = node('slice', [k], { axis: 2, start: whole * tile, end: nk, step: 1 });
  const last = node('reduce_mean', [rest], { axes: [2], keepdims: true });
  if (whole === 0) return last;
  const head = node('slice', [k], { axis: 2, start: 0, end: whole * tile, step: 1 });
  return node('concat', [means(head, whole), last], { axis: 2 });
}

/**
 * Online form: attention(q, k, v) → sparse_attention{scale, tile}(q, k, v, tile_select{tile, keep, keepFirst,
 * scale, keys: Nk}(q, k̄)) per block with k̄ = poolKeyTiles(k), or with a schedule tile_select{tile, keeps, bounds,
 * keepFirst, scale, keys}(q, k̄, t); no tensors. A block whose budget keeps every tile in every range stays dense.
 */
export function pruneTokensOnline(g: Graph, opts: OnlinePruneOptions): PruneTokensResult {
  const { tile = DEFAULT_PRUNE_TILE, keepFirst = 0 } = opts;
  const { keeps, bounds } = 'keeps' in opts ? opts : { keeps: [opts.keep], bounds: [] };
  checkSchedule(keeps.length, bounds);
  checkOptions(keeps.map((keep) => ({ keep })), tile, keepFirst);
  const steps = rangeSteps(bounds);
  const found = blockSelfAttentions(g);
  const planned = new Set<number>();
  const report = [...found.keys()].sort((a, b) => a - b).map((block) => {
    const a = found.get(block)!;
    if (a.src.length > 3) throw new Error(`prune-tokens: block ${block} self-attention has a mask; sparse_attention takes none`);
    const nk = a.src[1]!.type.shape[2]!;
    const counts = keeps.map((keep) => selectedTiles(nk, { tile, keep, keepFirst, scale: 1 }));
    if (counts.some((c) => c < keyTiles(nk, tile))) planned.add(block);
    return onlineReport(block, nk, tile, counts, steps);
  });
  const t = keeps.length > 1 && planned.size ? timestepInput(g, [...found.values()][0]!.type.shape[0]!) : undefined;
  const graph = rewriteBlocks(g, planned, (n, q, k, v) => {
    const [scale, keys, kbar] = [n.attrs['scale']!, k.type.shape[2]!, poolKeyTiles(k, tile)];
    const select = t
      ? node('tile_select', [q, kbar, t], { tile, keeps: [...keeps], bounds: [...bounds], keepFirst, scale, keys })
      : node('tile_select', [q, kbar], { tile, keep: keeps[0]!, keepFirst, scale, keys });
    return node('sparse_attention', [q, k, v, select], { scale, tile });
  });
  return { graph, tensors: new Map(), report };
}

/** An online block's report: per range the keys its query tiles may read; their mean weighted by sampler steps. */
function onlineReport(
  block: number, nk: number, tile: number, counts: readonly number[], steps: readonly number[],
): PrunedBlock {
  const ranges = counts.map((c) => {
    const keptKeys = Math.min(c * tile, nk);
    return { keptTiles: [], keptKeys, keptFraction: keptKeys / nk };
  });
  const total = steps.reduce((x, y) => x + y, 0);
  const keptFraction = ranges.reduce((acc, r, i) => acc + r.keptFraction * steps[i]!, 0) / total;
  return { block, totalTiles: keyTiles(nk, tile), totalKeys: nk, ranges, keptFraction,
    online: { tilesPerQueryTile: Math.max(...counts), tilesPerRange: counts, stepsPerRange: steps } };
}

/** `base` with the pass's tile lists laid over it (they win on a name clash). */
export function withTensors(base: Weights, extra: ReadonlyMap<string, Tensor>): Weights {
  return {
    get: (name) => extra.get(name) ?? base.get(name),
    names: () => new Set([...extra.keys(), ...base.names()]),
  };
}

/**
 * Per block, S averaged over the records of a calibration store (`vdit calib` with importance on): all of them, or
 * those whose sampling step lies in [steps[0], steps[1]).
 */
export function importanceFromStore(store: StoreReader, steps?: readonly [number, number]): Map<number, Float32Array> {
  const { blocks, keys } = store.manifest;
  if (keys === undefined) {
    throw new Error(`${store.dir}: the store holds no attention importance (record it with importance on)`);
  }
  const records = store.manifest.records.filter((r) => !steps || (r.step >= steps[0] && r.step < steps[1]));
  if (records.length === 0) {
    throw new Error(`${store.dir}: the store holds no records${steps ? ` at steps ${steps[0]}..${steps[1] - 1}` : ''}`);
  }
  const out = new Map<number, Float32Array>();
  for (let b = 0; b < blocks; b++) {
    const acc = new Float64Array(keys);
    for (const r of records) store.importance(b, r.id).forEach((v, j) => (acc[j]! += v));
    out.set(b, Float32Array.from(acc, (v) => v / records.length));
  }
  return out;
}

/**
 * A schedule over a calibration store's sampling steps: `keeps.length` ranges of (nearly) equal step counts in
 * sampling order, each ranked by the importance of its own steps; the bounds lie halfway between the timesteps of
 * the steps either side of each range edge, so a sampler with another step count still splits by noise level.
 */
export function scheduleFromStore(store: StoreReader, keeps: readonly number[]): { ranges: PruneRange[]; bounds: number[] } {
  const { steps, records } = store.manifest;
  if (keeps.length < 1 || keeps.length > steps) {
    throw new Error(`prune-tokens: a schedule of ${keeps.length} ranges needs 1..${steps} (the store's steps)`);
  }
  const edges = scheduleEdges(keeps.length, steps);
  const tOf = (step: number): number => {
    const rec = records.find((r) => r.step === step);
    if (!rec) throw new Error(`${store.dir}: the store holds no record of step ${step}`);
    return rec.t;
  };
  const bounds = edgeBounds(edges, tOf);
  const ranges = keeps.map((keep, r) => ({ keep, importance: importanceFromStore(store, [edges[r]!, edges[r + 1]!]) }));
  return { ranges, bounds };
}
