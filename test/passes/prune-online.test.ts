import { describe, expect, it } from 'vitest';
import { seededInputs } from '../../compiler/inputs.ts';
import { buildDiT } from '../../compiler/model/dit.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { graph, stats, substitute, tensorType, toposort, verify, node, type Graph, type Node } from '../../ir/index.ts';
import { samplerBounds } from '../../passes/prune-schedule.ts';
import { blockSelfAttentions, poolKeyTiles, pruneTokens, withTensors } from '../../passes/prune-tokens.ts';
import { runReference } from '../../runtime/reference.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { narrowTiny, narrowTinySmallClip } from '../compiler/model/narrow-tiny.ts';
import { expectClose } from '../runtime/reference-helpers.ts';

describe('online pruneTokens on a small DiT', () => {
  const dense = buildDiT(narrowTinySmallClip(1));
  const attns = blockSelfAttentions(dense);
  const a0 = attns.get(0)!;
  const [B, H, Nq] = a0.src[0]!.type.shape as [number, number, number];
  const Nk = a0.src[1]!.type.shape[2]!;
  const weights = seededWeights(dense, 3);
  const inputs = seededInputs(dense, 4);

  it('rewrites each block self-attention into sparse_attention over tile_select, with no tensors', () => {
    const out = pruneTokens(dense, { keep: 0.5, tile: 4, keepFirst: 0, online: true });
    verify(out.graph);
    expect(stats(out.graph)['attention'] ?? 0).toBe((stats(dense)['attention'] ?? 0) - attns.size);
    expect(stats(out.graph)['sparse_attention']).toBe(attns.size);
    expect(stats(out.graph)['tile_select']).toBe(attns.size);
    expect(out.tensors.size).toBe(0);
    const total = Math.ceil(Nk / 4);
    expect(out.report.map((r) => [r.block, r.online?.tilesPerQueryTile, r.totalTiles, r.keptFraction]))
      .toEqual([...attns.keys()].map((b) => [b, total / 2, total, 0.5]));
    // keep = 1: dense is the same function and cheaper
    expect(pruneTokens(dense, { keep: 1, tile: 4, online: true }).graph).toBe(dense);
    expect(() => pruneTokens(dense, { keep: 0, online: true })).toThrow(/keep must be in \(0, 1\]/);
  });

  it.each([4, 8])('equals dense attention masked per query tile (qtile %i) by the lists tile_select chose, on the reference', (qtile) => {
    const out = pruneTokens(dense, { keep: 0.5, tile: 4, qtile, keepFirst: 3, online: true });
    // the default qtile (= tile) is left out, so such graphs print as before
    expect(toposort(out.graph).filter((n) => n.op === 'sparse_attention').map((n) => n.attrs['qtile']))
      .toEqual([...attns.keys()].map(() => (qtile === 4 ? undefined : qtile)));
    const selects = toposort(out.graph).filter((n) => n.op === 'tile_select');
    const withLists = graph(out.graph.name, out.graph.inputs, [...out.graph.outputs, ...selects]);
    const res = runReference(withLists, inputs, weights);
    const got = res[0]!;
    const lists = res.slice(out.graph.outputs.length);
    // each block's lists as an additive mask [B, H, Nq, Nk] on its dense self-attention
    const swaps = new Map<Node, Node>();
    const masks = new Map<string, Tensor>();
    [...attns.keys()].sort((x, y) => x - y).forEach((b, i) => {
      const l = lists[i]!;
      const [QT, T] = [l.type.shape[2]!, l.type.shape[3]!];
      const m = new Float32Array(B * H * Nq * Nk).fill(-Infinity);
      for (let bh = 0; bh < B * H; bh++) {
        for (let q = 0; q < Nq; q++) {
          const r = bh * QT + Math.floor(q / qtile);
          const row = l.data.subarray(r * T, (r + 1) * T);
          expect(Array.from(row.subarray(0, 1))).toEqual([0]); // keepFirst 3: tile 0 always
          for (const t of row) m.fill(0, (bh * Nq + q) * Nk + t * 4, (bh * Nq + q) * Nk + Math.min(t * 4 + 4, Nk));
        }
      }
      const p = node('param', [], { name: `mask.${b}` }, tensorType('f32', [B, H, Nq, Nk]));
      masks.set(`mask.${b}`, tensor(p.type, m));
      swaps.set(attns.get(b)!, node('attention', [...attns.get(b)!.src, p], attns.get(b)!.attrs));
    });
    const want = runReference(substitute(dense, swaps), inputs, withTensors(weights, masks))[0]!;
    expectClose(got.data, want.data, 2e-7, 1e-6);
    // not vacuous: the lists differ across heads or query tiles, and pruning moved the output
    expect(new Set(lists.flatMap((l) => Array.from({ length: l.data.length / l.type.shape[3]! },
      (_, r) => l.data.subarray(r * l.type.shape[3]!, (r + 1) * l.type.shape[3]!).join()))).size).toBeGreaterThan(1);
    const full = runReference(dense, inputs, weights)[0]!;
    expect(Math.max(...Array.from(got.data, (x, i) => Math.abs(x - full.data[i]!)))).toBeGreaterThan(2e-5);
  });
});

describe('online pruneTokens with a per-timestep budget (keeps + bounds)', () => {
  // batch 2: two samples, which may sit at different timesteps here
  const dense = buildDiT(narrowTinySmallClip(2));
  const attns = blockSelfAttentions(dense);
  const Nk = attns.get(0)!.src[1]!.type.shape[2]!;
  const weights = seededWeights(dense, 3);
  const base = seededInputs(dense, 4);
  const bounds = samplerBounds(2);
  const at = (t: number[]): Record<string, Tensor> => ({ ...base, t: tensor(base['t']!.type, Float32Array.from(t)) });
  const out = pruneTokens(dense, { keeps: [1, 0.5], bounds, tile: 4, keepFirst: 0, online: true });
  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = a.length): number =>
    Math.max(...Array.from({ length: to - from }, (_, i) => Math.abs(a[from + i]! - b[from + i]!)));

  it('rewrites each block into sparse_attention over tile_select(q, k, t) and reports each range', () => {
    verify(out.graph);
    const selects = toposort(out.graph).filter((n) => n.op === 'tile_select');
    expect(selects).toHaveLength(attns.size);
    const t = out.graph.inputs.find((n) => n.attrs['name'] === 't')!;
    const total = Math.ceil(Nk / 4);
    for (const n of selects) {
      expect(n.src[2]).toBe(t);
      expect(n.attrs).toMatchObject({ keeps: [1, 0.5], bounds, tile: 4, keepFirst: 0 });
      expect(n.type.shape.at(-1)).toBe(total);
    }
    // 30 default steps split 15 / 15: the step-weighted mean is 0.75
    expect(out.report.map((r) => [r.ranges.map((k) => k.keptFraction), r.keptFraction, r.online])).toEqual(
      [...attns.keys()].map(() => [[1, 0.5], 0.75, { tilesPerQueryTile: total, tilesPerRange: [total, total / 2], stepsPerRange: [15, 15], queryTile: 4 }]));
    // uneven ranges weigh by steps: 3 ranges of 10 steps, or bounds that leave 6 steps (t ≤ 0.2) in the second
    const three = pruneTokens(dense, { keeps: [1, 0.5, 0.25], bounds: samplerBounds(3), tile: 4, online: true }).report[0]!;
    expect(three.keptFraction).toBeCloseTo((1 + 0.5 + 0.25) / 3, 12);
    const late = pruneTokens(dense, { keeps: [1, 0.5], bounds: [0.21], tile: 4, online: true }).report[0]!;
    expect([late.online?.stepsPerRange, late.keptFraction]).toEqual([[24, 6], (24 + 0.5 * 6) / 30]);
  });

  it('equals the dense model in the dense range and differs late, per sample', () => {
    const run = (g: typeof dense, t: number[]) => runReference(g, at(t), weights)[0]!.data;
    const early = run(out.graph, [0.9, 0.6]);
    const tol = 1e-6 * Math.max(...Array.from(early, Math.abs));
    expect(maxDiff(early, run(dense, [0.9, 0.6]))).toBeLessThan(tol);
    const mixed = run(out.graph, [0.9, 0.1]);
    const want = run(dense, [0.9, 0.1]);
    const half = want.length / 2;
    expect(maxDiff(mixed, want, 0, half)).toBeLessThan(tol);
    // the seeded model's attention branch is small (adaLN gates): pruning moves the output ~1e-4, far above tol
    expect(maxDiff(mixed, want, half)).toBeGreaterThan(10 * tol);
  });

  it('stays dense when every range keeps every tile, keeps one range unscheduled, and refuses bad schedules', () => {
    expect(pruneTokens(dense, { keeps: [1, 1], bounds: [0.5], tile: 4, online: true }).graph).toBe(dense);
    const one = pruneTokens(dense, { keeps: [0.5], bounds: [], tile: 4, online: true }).graph;
    expect(toposort(one).filter((n) => n.op === 'tile_select').map((n) => [n.src.length, n.attrs['keep']])).toEqual(
      [...attns.keys()].map(() => [2, 0.5]));
    expect(() => pruneTokens(dense, { keeps: [1, 0.5], bounds: [], online: true })).toThrow(/2 ranges need 1 timestep bounds, got 0/);
    expect(() => pruneTokens(dense, { keeps: [1, 0.5, 0.2], bounds: [0.3, 0.6], online: true }))
      .toThrow(/bounds must be finite and strictly descending/);
    expect(() => pruneTokens(dense, { keeps: [1, 1.5], bounds: [0.5], online: true })).toThrow(/keep must be in \(0, 1\], got 1.5/);
    const noT = graph(dense.name, dense.inputs.filter((n) => n.attrs['name'] !== 't'), dense.outputs);
    expect(() => pruneTokens(noT, { keeps: [1, 0.5], bounds: [0.5], tile: 4, online: true })).toThrow(/needs the graph input t/);
  });

  it('leaves the dense blocks\' attention as it was and reports them whole', () => {
    const blocks = [...attns.keys()].sort((a, b) => a - b);
    const out = pruneTokens(dense, { keep: 0.5, tile: 4, online: true, dense: [blocks[0]!] });
    expect(stats(out.graph)['sparse_attention']).toBe(attns.size - 1);
    expect(blockSelfAttentions(out.graph).get(blocks[0]!)!.op).toBe('attention');
    expect(out.report.map((r) => r.keptFraction)).toEqual(blocks.map((b) => (b === blocks[0] ? 1 : 0.5)));
    // every block dense: nothing left to prune
    expect(pruneTokens(dense, { keep: 0.5, tile: 4, online: true, dense: blocks }).graph).toBe(dense);
    expect(() => pruneTokens(dense, { keep: 0.5, online: true, dense: [99] })).toThrow(/dense block\(s\) 99 have no self-attention/);
  });
});

/** `g` with each pooled tile_select{keys}(q, k̄[, t]) put back to the unpooled tile_select(q, k[, t]) it replaced. */
function unpooled(g: Graph): Graph {
  // one at a time: swapping block i rebuilds block i + 1's nodes over it
  const next = toposort(g).find((n) => n.op === 'sparse_attention' && n.src[3]?.attrs['keys'] !== undefined);
  if (!next) return g;
  const sel = next.src[3]!;
  const { keys: _keys, ...attrs } = sel.attrs;
  return unpooled(substitute(g, new Map([[sel, node('tile_select', [sel.src[0]!, next.src[1]!, ...sel.src.slice(2)], attrs)]])));
}

describe('online pruneTokens pools K once per head (tile_select\'s pooled form)', () => {
  // tile 64 over 8×8×8 = 512 keys (whole tiles) and 8×7×7 = 392 keys (a last tile of 8)
  const models = [['whole tiles', narrowTiny({ batch: 2 })], ['a ragged last tile', narrowTiny({ batch: 2, video: [16, 28, 28, 3] })]] as const;

  it.each(models)('emits reshape + reduce_mean (+ group means, slice, concat) into tile_select{keys}: %s', (_name, config) => {
    const dense = buildDiT(config);
    const attns = blockSelfAttentions(dense);
    const out = pruneTokens(dense, { keep: 0.5, tile: 64, online: true });
    verify(out.graph);
    const selects = toposort(out.graph).filter((n) => n.op === 'tile_select');
    expect(selects).toHaveLength(attns.size);
    for (const sel of selects) {
      const k = toposort(out.graph).find((n) => n.op === 'sparse_attention' && n.src[3] === sel)!.src[1]!;
      const [Nk, KT] = [k.type.shape[2]!, Math.ceil(k.type.shape[2]! / 64)];
      expect(sel.attrs['keys']).toBe(Nk);
      expect(sel.src[1]!.type.shape).toEqual([...k.type.shape.slice(0, 2), KT, k.type.shape[3]]);
      const pool = toposort(graph('p', [], [sel.src[1]!])).filter((n) => !toposort(graph('k', [], [k])).includes(n));
      const ops = pool.map((n) => n.op).sort();
      // 392 keys: groups of gcd(392, 64) = 8 first, so the slices copy the group means, not k
      expect(ops).toEqual(Nk % 64 === 0 ? ['reduce_mean', 'reshape']
        : ['concat', 'reduce_mean', 'reduce_mean', 'reduce_mean', 'reshape', 'reshape', 'slice', 'slice']);
      const means = pool.filter((n) => n.op === 'reduce_mean').map((n) => n.attrs);
      expect(means).toContainEqual({ axes: [3], keepdims: false });
      if (Nk % 64) expect(means).toContainEqual({ axes: [2], keepdims: true });
      for (const s of pool.filter((n) => n.op === 'slice')) expect(s.src[0]).not.toBe(k);
    }
  });

  it.each([
    ['groups of 8 (Nk 200, tile 64)', 200, 64, true],
    ['groups of 4 slice k (Nk 100, tile 64)', 100, 64, false],
    ['one partial tile (Nk 40, tile 64)', 40, 64, false],
    ['whole tiles (Nk 128, tile 32)', 128, 32, false],
  ] as const)('gives the tile means of k: %s', (_name, nk, tile, grouped) => {
    const k = node('input', [], { name: 'k' }, tensorType('f32', [2, 3, nk, 5]));
    const pooled = poolKeyTiles(k, tile);
    expect(toposort(graph('p', [k], [pooled])).filter((n) => n.op === 'slice').some((n) => n.src[0] === k)).toBe(!grouped && nk % tile !== 0);
    const data = Float32Array.from({ length: 2 * 3 * nk * 5 }, (_, i) => Math.sin(i * 0.37) * 3 + (i % 7));
    const got = runReference(graph('p', [k], [pooled]), { k: tensor(k.type, data) }, { get: () => undefined, names: () => [] })[0]!;
    const kt = Math.ceil(nk / tile);
    const want = new Float32Array(2 * 3 * kt * 5);
    for (let bh = 0; bh < 6; bh++) for (let j = 0; j < kt; j++) for (let c = 0; c < 5; c++) {
      const rows = Array.from({ length: Math.min(tile, nk - j * tile) }, (_, r) => data[(bh * nk + j * tile + r) * 5 + c]!);
      want[(bh * kt + j) * 5 + c] = rows.reduce((a, x) => a + x, 0) / rows.length;
    }
    expect(got.type.shape).toEqual([2, 3, kt, 5]);
    expectClose(got.data, want, 1e-5);
  });

  it.each(models)('forwards as the unpooled tile_select did, online keep 0.5 and schedule 1/0.5: %s', (_name, config) => {
    const dense = buildDiT(config);
    const weights = seededWeights(dense, 5);
    const base = seededInputs(dense, 6);
    const inputs = { ...base, t: tensor(base['t']!.type, Float32Array.of(0.9, 0.1)) };
    const withLists = (g: Graph): Graph =>
      graph(g.name, g.inputs, [...g.outputs, ...toposort(g).filter((n) => n.op === 'tile_select')]);
    for (const opts of [{ keep: 0.5 }, { keeps: [1, 0.5], bounds: samplerBounds(2) }]) {
      const pooled = withLists(pruneTokens(dense, { ...opts, tile: 64, online: true }).graph);
      const got = runReference(pooled, inputs, weights);
      const want = runReference(withLists(unpooled(pooled)), inputs, weights);
      expect(toposort(unpooled(pooled)).some((n) => n.op === 'tile_select' && n.attrs['keys'] !== undefined)).toBe(false);
      expect(got.length).toBeGreaterThan(1);
      // the same lists (scores differ only by k̄'s f32 rounding), so the same forward, exactly
      got.forEach((r, i) => expect(Array.from(r.data)).toEqual(Array.from(want[i]!.data)));
      // not vacuous: pruning moved the output off the dense model's
      const full = runReference(dense, inputs, weights)[0]!.data;
      expect(Array.from(got[0]!.data).some((x, i) => x !== full[i])).toBe(true);
    }
  }, 120_000);
});
