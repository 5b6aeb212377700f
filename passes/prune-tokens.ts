import type { StoreReader } from '../compiler/calib/store.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { keyTiles } from '../ir/infer-sparse-attention.ts';
import { node, tensorType, toposort, type Graph, type Node } from '../ir/index.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import { createContext } from './pass.ts';
import { any, pat, rewriteGraph, rule } from './pattern.ts';

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
 */

export interface PruneTokensOptions {
  /** fraction of key tiles kept per block, in (0, 1]; 1 leaves the graph unchanged */
  readonly keep: number;
  /** keys per tile (default 64) */
  readonly tile?: number;
  /** block index → S per key (length Nk), averaged over calibration samples */
  readonly importance: ReadonlyMap<number, ArrayLike<number>>;
  /** leading tokens (e.g. text) whose tiles are always kept */
  readonly keepFirst?: number;
}

export interface PrunedBlock {
  readonly block: number;
  /** kept tile indices, ascending */
  readonly keptTiles: readonly number[];
  readonly totalTiles: number;
  readonly keptKeys: number;
  readonly totalKeys: number;
  /** keptKeys / totalKeys: the fraction of K/V work left (the last tile may be partial) */
  readonly keptFraction: number;
}

export interface PruneTokensResult {
  readonly graph: Graph;
  /** the tile-list params the new graph reads, by name */
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly report: readonly PrunedBlock[];
}

export const DEFAULT_PRUNE_TILE = 64;

export const keptTilesParam = (block: number): string => `blocks.${block}.attn.kept_tiles`;

// keep·T is rounded to 9 digits first, so that 0.3 · 10 = 3.0000000000000004 keeps 3 tiles, not 4
const budgetOf = (keep: number, total: number): number => Math.ceil(Math.round(keep * total * 1e9) / 1e9);

/** The kept tiles of one block, ascending: forced tiles (holding keys < keepFirst) first, then by score, ties low. */
export function chooseTiles(s: ArrayLike<number>, keep: number, tile: number, keepFirst = 0): number[] {
  const total = keyTiles(s.length, tile);
  const score = new Float64Array(total);
  for (let j = 0; j < s.length; j++) score[Math.floor(j / tile)]! += s[j]!;
  const forced = keyTiles(Math.min(keepFirst, s.length), tile);
  const budget = Math.max(budgetOf(keep, total), forced);
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

function checkOptions(o: PruneTokensOptions, tile: number, keepFirst: number): void {
  if (!(typeof o.keep === 'number' && o.keep > 0 && o.keep <= 1)) {
    throw new Error(`prune-tokens: keep must be in (0, 1], got ${o.keep}`);
  }
  if (!(Number.isInteger(tile) && tile >= 1)) {
    throw new Error(`prune-tokens: tile must be an integer ≥ 1, got ${tile}`);
  }
  if (!(Number.isInteger(keepFirst) && keepFirst >= 0)) {
    throw new Error(`prune-tokens: keepFirst must be an integer ≥ 0, got ${keepFirst}`);
  }
}

function importanceOf(o: PruneTokensOptions, block: number, a: Node): ArrayLike<number> {
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

function blockReport(block: number, kept: readonly number[], nk: number, tile: number): PrunedBlock {
  const keptKeys = kept.reduce((acc, t) => acc + Math.min(tile, nk - t * tile), 0);
  const totalTiles = keyTiles(nk, tile);
  return { block, keptTiles: kept, totalTiles, keptKeys, totalKeys: nk, keptFraction: keptKeys / nk };
}

/** Replaces each block's self-attention by sparse_attention over its best key tiles; see the comment above. */
export function pruneTokens(g: Graph, opts: PruneTokensOptions): PruneTokensResult {
  const tile = opts.tile ?? DEFAULT_PRUNE_TILE;
  const keepFirst = opts.keepFirst ?? 0;
  checkOptions(opts, tile, keepFirst);
  const found = blockSelfAttentions(g);
  const stray = [...opts.importance.keys()].filter((b) => !found.has(b));
  if (stray.length) {
    throw new Error(`prune-tokens: importance for block(s) ${stray.join(', ')}, which have no self-attention`);
  }
  const lists = new Map<number, Node>();
  const tensors = new Map<string, Tensor>();
  const report = [...found.keys()].sort((a, b) => a - b).map((block) => {
    const a = found.get(block)!;
    const nk = a.src[1]!.type.shape[2]!;
    const kept = chooseTiles(importanceOf(opts, block, a), opts.keep, tile, keepFirst);
    // every tile kept: dense attention is the same function and cheaper
    if (kept.length === keyTiles(nk, tile)) return blockReport(block, kept, nk, tile);
    const name = keptTilesParam(block);
    const list = node('param', [], { name }, tensorType('i32', [kept.length]));
    tensors.set(name, tensor(list.type, Int32Array.from(kept)));
    lists.set(block, list);
    return blockReport(block, kept, nk, tile);
  });
  // a rule, not substitute(): block i's attention must be rebuilt over block i − 1's already pruned output
  const rules = [rule('sparse-attention', pat('attention', [any('q'), any('k'), any('v')]), ({ q, k, v }, n) => {
    const list = lists.get(selfAttentionBlock(n) ?? -1);
    return list && node('sparse_attention', [q, k, v, list], { scale: n.attrs['scale']!, tile });
  })];
  const ctx = createContext();
  const out = lists.size ? rewriteGraph(g, rules, ctx, { fixedPoint: false }) : g;
  if ((ctx.stats.get('sparse-attention') ?? 0) !== lists.size) {
    const done = ctx.stats.get('sparse-attention') ?? 0;
    throw new Error(`prune-tokens: rewrote ${done} self-attentions, planned ${lists.size}`);
  }
  return { graph: out, tensors, report };
}

/** `base` with the pass's tile lists laid over it (they win on a name clash). */
export function withTensors(base: Weights, extra: ReadonlyMap<string, Tensor>): Weights {
  return {
    get: (name) => extra.get(name) ?? base.get(name),
    names: () => new Set([...extra.keys(), ...base.names()]),
  };
}

/** Per block, S averaged over every record of a calibration store (`vdit calib` with importance on). */
export function importanceFromStore(store: StoreReader): Map<number, Float32Array> {
  const { blocks, keys, records } = store.manifest;
  if (keys === undefined) {
    throw new Error(`${store.dir}: the store holds no attention importance (record it with importance on)`);
  }
  if (records.length === 0) throw new Error(`${store.dir}: the store holds no records`);
  const out = new Map<number, Float32Array>();
  for (let b = 0; b < blocks; b++) {
    const acc = new Float64Array(keys);
    for (const r of records) store.importance(b, r.id).forEach((v, j) => (acc[j]! += v));
    out.set(b, Float32Array.from(acc, (v) => v / records.length));
  }
  return out;
}
