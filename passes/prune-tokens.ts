import type { StoreReader } from '../compiler/calib/store.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { keyTiles } from '../ir/infer-sparse-attention.ts';
import { tileBudget } from '../ir/infer-tile-select.ts';
import { node, tensorType, type Graph, type Node } from '../ir/index.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import {
  blockSelfAttentions, checkOptions, checkSchedule, denseBlocks, DEFAULT_PRUNE_TILE, rewriteBlocks, selfAttentionBlock,
  timestepInput, type PruneCommon, type PrunedBlock, type PruneTokensResult,
} from './prune-blocks.ts';
import { pruneTokensOnline, type OnlinePruneOptions } from './prune-online.ts';
import { edgeBounds, scheduleEdges } from './prune-schedule.ts';

export * from './prune-blocks.ts';
export * from './prune-online.ts';

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
 * be missing from every Weights source. Online selection (the tiles chosen per sample at run time): prune-online.ts.
 */

/** One budget: the fraction of key tiles kept per block and the importance that ranks them. */
export interface PruneRange {
  /** in (0, 1]; 1 keeps every tile */
  readonly keep: number;
  /** block index → S per key (length Nk), averaged over calibration samples */
  readonly importance: ReadonlyMap<number, ArrayLike<number>>;
}

/**
 * One budget for every timestep, or a schedule: ranges in sampling order (noisiest first, t falling) with the
 * R − 1 descending timestep bounds between them; each block then carries one tile list per range and its
 * sparse_attention picks the row of the graph input `t` at run time (ir/ops.ts, the scheduled form). Or online.
 */
export type PruneTokensOptions = OnlinePruneOptions | PruneCommon & (PruneRange | {
  readonly ranges: readonly PruneRange[];
  readonly bounds: readonly number[];
});

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

/** The ranges and bounds of either calibrated form of the options. */
function rangesOf(o: Exclude<PruneTokensOptions, OnlinePruneOptions>): { ranges: readonly PruneRange[]; bounds: readonly number[] } {
  if (!('ranges' in o)) return { ranges: [o], bounds: [] };
  checkSchedule(o.ranges.length, o.bounds);
  return o;
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
  const dense = denseBlocks(opts.dense, found);
  const lists = new Map<number, Node>();
  const tensors = new Map<string, Tensor>();
  const report = [...found.keys()].sort((a, b) => a - b).map((block) => {
    const a = found.get(block)!;
    const nk = a.src[1]!.type.shape[2]!;
    const rows = ranges.map((r) =>
      chooseTiles(importanceOf(r, block, a), dense.has(block) ? 1 : r.keep, tile, keepFirst));
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
