import { describe, expect, it } from 'vitest';
import { seededInputs } from '../../compiler/inputs.ts';
import { buildDiT } from '../../compiler/model/dit.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { carryPairs, graph, stats, toposort, verify } from '../../ir/index.ts';
import { listsCarry, refreshTilesParam, residualCarry, residualPlan } from '../../passes/prune-residual.ts';
import { mulberry32 } from '../../compiler/data/prng.ts';
import { tensorType } from '../../ir/index.ts';
import { lazyAttention } from './lazy-attention.ts';
import { samplerBounds } from '../../passes/prune-schedule.ts';
import { blockSelfAttentions, pruneTokens, withTensors } from '../../passes/prune-tokens.ts';
import { runReference } from '../../runtime/reference.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { narrowTinySmallClip } from '../compiler/model/narrow-tiny.ts';

describe('residualPlan', () => {
  it('gives dense ranges the next pruned budget (none before another dense range) and flags them', () => {
    expect(residualPlan([1, 0.25, 0.5, 1, 1, 0.25])).toEqual(
      { sparseKeeps: [0.25, 0.25, 0.5, 0, 0.25, 0.25], refresh: [1, 0, 0, 1, 1, 0], frozen: false,
        selectKeeps: [0.25, 0.25, 0.5, 0, 0.25, 0.25], lazy: false, anchor: [1, 0, 0, 1, 1, 0] });
    // frozen: the pruned ranges select nothing, their lists are carried
    expect(residualPlan([1, 0.25, 0.5, 1, 1, 0.25], 'frozen').selectKeeps).toEqual([0.25, 0, 0, 0, 0.25, 0]);
  });

  it('lazy: no sparse part in dense ranges; the first pruned range after one selects and anchors', () => {
    expect(residualPlan([1, 0.25, 0.25, 1, 1, 0.5], 'lazy')).toEqual({
      sparseKeeps: [0, 0.25, 0.25, 0, 0, 0.5], refresh: [1, 0, 0, 1, 1, 0], frozen: true, lazy: true,
      anchor: [0, 1, 0, 0, 0, 1], selectKeeps: [0, 0.25, 0, 0, 0, 0.5] });
    expect(() => residualPlan([0.5, 1, 0.5], 'lazy')).toThrow(/cache=lazy needs a dense first range/);
  });

  it('refuses a schedule that reads the residual before a dense range wrote it, or ends dense', () => {
    expect(() => residualPlan([0.5, 1, 0.5])).toThrow(/needs a dense first range \(keep 1\)/);
    expect(() => residualPlan([1, 0.5, 1])).toThrow(/needs a pruned last range \(keep < 1\)/);
  });
});

describe('online pruneTokens with residual reuse on a small DiT', () => {
  const dense = buildDiT(narrowTinySmallClip(1));
  const attns = blockSelfAttentions(dense);
  const Nk = attns.get(0)!.src[1]!.type.shape[2]!;
  const total = Math.ceil(Nk / 4);
  const weights = seededWeights(dense, 3);
  const base = seededInputs(dense, 4);
  const bounds = samplerBounds(3);
  const out = pruneTokens(dense, { keeps: [1, 0.5, 0.5], bounds, tile: 4, keepFirst: 0, online: true, residual: true });
  const plain = pruneTokens(dense, { keeps: [0.5, 0.5, 0.5], bounds, tile: 4, keepFirst: 0, online: true });
  const w = withTensors(weights, out.tensors);
  const pairs = carryPairs(out.graph);
  const at = (t: number, carries: readonly Tensor[] = []): Record<string, Tensor> => ({
    ...base, t: tensor(base['t']!.type, new Float32Array(base['t']!.type.shape[0]!).fill(t)),
    ...Object.fromEntries(pairs.map(({ input }, i) => [String(input.attrs['name']),
      carries[i] ?? tensor(input.type, new Float32Array(input.type.shape.reduce((a, b) => a * b, 1)))])),
  });
  const plainAt = (t: number): Record<string, Tensor> =>
    ({ ...base, t: tensor(base['t']!.type, new Float32Array(base['t']!.type.shape[0]!).fill(t)) });
  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
    Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));
  const noise = (t: Tensor, seed: number): Tensor =>
    tensor(t.type, Float32Array.from(t.data, (_, i) => Math.sin(seed * 7919 + i * 12.9898) * 0.5));

  it('carries one residual per block: carry.blocks.<i>.attn in, its next value out, and a refresh list param', () => {
    verify(out.graph);
    expect(pairs.map(({ input, output }) => [input.attrs['name'], output]))
      .toEqual([...attns.keys()].sort((a, b) => a - b).map((b, i) => [residualCarry(b), 1 + i]));
    expect(pairs.map(({ input }) => input.type)).toEqual([...attns.values()].map((a) => a.type));
    // the two flags (w, 1 − w) are the same nodes in every block
    expect(stats(out.graph)['schedule_value']).toBe(2);
    expect(stats(out.graph)['sparse_attention']).toBe(2 * attns.size);
    // dense ranges (the first) select with the pruned ranges' budget
    expect(toposort(out.graph).filter((n) => n.op === 'tile_select').map((n) => n.attrs['keeps']))
      .toEqual([...attns.keys()].map(() => [0.5, 0.5, 0.5]));
    const lists = out.tensors.get(refreshTilesParam(0))!;
    expect(lists.type.shape).toEqual([3, total]);
    expect(Array.from(lists.data)).toEqual([...Array.from({ length: total }, (_, j) => j),
      ...new Array<number>(2 * total).fill(-1)]);
    // a dense step reads all keys and the pruned budget: 1.5; 10 steps of each range
    expect(out.report[0]!.ranges.map((r) => r.keptFraction)).toEqual([1.5, 0.5, 0.5]);
    expect(out.report[0]!.online?.refreshRanges).toEqual([true, false, false]);
  });

  it('a dense step gives dense attention whatever the carry held, and carries dense − sparse', () => {
    const zero = runReference(out.graph, at(0.95), w);
    const filled = runReference(out.graph, at(0.95, pairs.map(({ input }, i) => noise(tensor(input.type,
      new Float32Array(input.type.shape.reduce((a, b) => a * b, 1))), i + 1))), w);
    expect(maxDiff(filled[0]!.data, zero[0]!.data)).toBe(0);
    const want = runReference(dense, plainAt(0.95), weights)[0]!.data;
    expect(maxDiff(zero[0]!.data, want)).toBeLessThan(1e-6 * Math.max(...Array.from(want, Math.abs)));
    // the residual is what the pruned lists miss: not zero
    expect(Math.max(...Array.from(zero[1]!.data, Math.abs))).toBeGreaterThan(1e-4);
    // a dense range before another dense one selects nothing (S = 0) and is dense all the same
    const two = pruneTokens(dense, { keeps: [1, 1, 0.5], bounds, tile: 4, keepFirst: 0, online: true, residual: true });
    expect(toposort(two.graph).find((n) => n.op === 'tile_select')!.attrs['keeps']).toEqual([0, 0.5, 0.5]);
    const first = runReference(two.graph, at(0.95), withTensors(weights, two.tensors));
    expect(maxDiff(first[0]!.data, want)).toBeLessThan(1e-6 * Math.max(...Array.from(want, Math.abs)));
  });

  it('a pruned step adds the carried residual and passes it on unchanged', () => {
    const zero = runReference(out.graph, at(0.1), w);
    // with nothing carried it is plain online pruning at the same budget
    expect(maxDiff(zero[0]!.data, runReference(plain.graph, plainAt(0.1), weights)[0]!.data)).toBe(0);
    const carries = pairs.map(({ input }, i) => noise(tensor(input.type,
      new Float32Array(input.type.shape.reduce((a, b) => a * b, 1))), i + 1));
    const res = runReference(out.graph, at(0.1, carries), w);
    pairs.forEach(({ output }, i) => expect(maxDiff(res[output]!.data, carries[i]!.data)).toBe(0));
    expect(maxDiff(res[0]!.data, zero[0]!.data)).toBeGreaterThan(1e-4);
  });

  it('frozen: carries the dense step\'s lists too and prunes by them until the next dense step', () => {
    const fz = pruneTokens(dense, { keeps: [1, 0.5, 0.5], bounds, tile: 4, keepFirst: 0, online: true, residual: 'frozen' });
    const fp = carryPairs(fz.graph);
    expect(fp.map(({ input }) => [input.attrs['name'], input.type.dtype])).toEqual([...attns.keys()].sort((a, b) => a - b)
      .flatMap((b) => [[residualCarry(b), 'f32'], [listsCarry(b), 'i32']]));
    const selects = toposort(fz.graph).filter((n) => n.op === 'tile_select');
    // lists are chosen at dense steps only; the report still counts the pruned ranges' budget
    expect(selects.map((n) => n.attrs['keeps'])).toEqual([...attns.keys()].map(() => [0.5, 0, 0]));
    expect(fz.report[0]!.ranges.map((r) => r.keptFraction)).toEqual([1.5, 0.5, 0.5]);
    const withLists = graph(fz.graph.name, fz.graph.inputs, [...fz.graph.outputs, ...selects]);
    const wz = withTensors(weights, fz.tensors);
    const inputsAt = (t: number, carries: readonly Tensor[]): Record<string, Tensor> => ({
      ...plainAt(t), ...Object.fromEntries(fp.map(({ input }, i) => [String(input.attrs['name']), carries[i]!])) });
    const zeros = fp.map(({ input }) => tensor(input.type, input.type.dtype === 'i32'
      ? new Int32Array(input.type.shape.reduce((a, b) => a * b, 1)) : new Float32Array(input.type.shape.reduce((a, b) => a * b, 1))));
    // the dense step carries out the lists it selected, as lists + 1 (the zero state holds none)
    const d = runReference(withLists, inputsAt(0.95, zeros), wz);
    fp.forEach(({ input, output }, i) => {
      if (input.type.dtype !== 'i32') return;
      expect(Array.from(d[output]!.data)).toEqual(Array.from(d[fz.graph.outputs.length + (i - 1) / 2]!.data, (x) => x + 1));
    });
    // a pruned step from the zero state attends over no tiles: valid (empty lists), not an error
    expect(runReference(fz.graph, inputsAt(0.1, zeros), wz)[0]!.data.every(Number.isFinite)).toBe(true);
    // a pruned step passes its carries on unchanged and prunes by the carried lists, not its own selection
    const carried = fp.map(({ output }) => d[output]!);
    const p = runReference(fz.graph, inputsAt(0.1, carried), wz);
    fp.forEach(({ output }, i) => expect(maxDiff(p[output]!.data, carried[i]!.data)).toBe(0));
    // other lists (each query tile's last T' tiles) change a pruned step, not a dense one
    const other = carried.map((c, i) => {
      if (fp[i]!.input.type.dtype !== 'i32') return tensor(c.type, new Float32Array(c.data.length));
      const T = c.type.shape.at(-1)!;
      return tensor(c.type, Int32Array.from(c.data, (_, j) => total - T + (j % T) + 1));
    });
    const noR = carried.map((c, i) => (fp[i]!.input.type.dtype === 'i32' ? c : other[i]!));
    expect(maxDiff(runReference(fz.graph, inputsAt(0.1, other), wz)[0]!.data,
      runReference(fz.graph, inputsAt(0.1, noR), wz)[0]!.data)).toBeGreaterThan(1e-5);
    expect(maxDiff(runReference(fz.graph, inputsAt(0.95, other), wz)[0]!.data, d[0]!.data)).toBe(0);
  });

  it('refuses a residual schedule without a dense first range', () => {
    expect(() => pruneTokens(dense, { keeps: [0.5, 1, 0.5], bounds, tile: 4, online: true, residual: true }))
      .toThrow(/dense first range/);
  });
});

describe('residualAttention, cache=lazy, on one attention', () => {
  // [B, H, N, D] = [1, 2, 32, 8], tiles of 4 keys (8 tiles), a list per 4 queries; ranges: dense, first pruned, pruned
  const { g, select, param, inputs } = lazyAttention([1, 2, 32, 8, 4], 0.25, true);
  const weights = withTensors({ get: () => undefined, names: () => [] }, new Map([[param.name, param.data]]));
  const x = inputs(11);
  const r = mulberry32(12);
  const rand = (): Tensor => tensor(x['q']!.type, Float32Array.from(x['q']!.data, () => 2 * r.next() - 1));
  const run = (time: number, residual: Tensor, lists: Tensor): Tensor[] => runReference(g, {
    ...x, t: tensor(tensorType('f32', [1]), Float32Array.of(time)), [residualCarry(0)]: residual, [listsCarry(0)]: lists,
  }, weights);
  const listsType = select.type;
  const noLists = tensor(listsType, new Int32Array(listsType.shape.reduce((a, b) => a * b, 1)));
  const diff = (a: Tensor, b: Tensor): number => Math.max(...Array.from(a.data, (v, i) => Math.abs(Number(v) - Number(b.data[i]))));

  it('a dense step outputs dense attention, carries it, and empty lists (no sparse part), whatever was carried', () => {
    const [out, , dense, nextR, nextL] = run(0.9, rand(), tensor(listsType, Int32Array.from(
      { length: noLists.data.length }, (_, i) => 1 + (i % 2))));
    expect(diff(out!, dense!)).toBe(0);
    expect(diff(nextR!, dense!)).toBe(0);
    expect(Array.from(nextL!.data).every((v) => v === 0)).toBe(true);
  });

  it('the first pruned step outputs the carried dense attention and carries it minus its sparse part', () => {
    const [, , dense] = run(0.9, rand(), noLists);
    const [out, lists, , nextR, nextL] = run(0.5, dense!, noLists);
    expect(diff(out!, dense!)).toBe(0);
    // its own selection, carried on (as lists + 1), two tiles per query tile
    expect(Array.from(nextL!.data)).toEqual(Array.from(lists!.data, (v) => v + 1));
    expect(Array.from(lists!.data).every((v) => v >= 0 && v < 8)).toBe(true);
    // R' = D − S: what the kept tiles miss, neither zero nor D
    expect(Math.max(...Array.from(nextR!.data, Math.abs))).toBeGreaterThan(1e-4);
    expect(diff(nextR!, dense!)).toBeGreaterThan(1e-4);
    // a pruned step after it passes both carries on unchanged and outputs S + R over the carried lists
    const [out2, , , r2, l2] = run(0.1, nextR!, nextL!);
    expect(diff(r2!, nextR!)).toBe(0);
    expect(Array.from(l2!.data)).toEqual(Array.from(nextL!.data));
    // with the same q, k, v as the first step its sparse part is the same: S + (D − S) ≈ D
    expect(diff(out2!, dense!)).toBeLessThan(1e-5 * Math.max(1, ...Array.from(dense!.data, Math.abs)));
  });
});
