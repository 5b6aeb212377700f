import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreReader, StoreWriter } from '../../compiler/calib/store.ts';
import { seededInputs } from '../../compiler/inputs.ts';
import { compareTensors } from '../../compiler/tensor-stats.ts';
import { buildDiT } from '../../compiler/model/dit.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { parse, print, stats, substitute, tensorType, verify, node, type Graph, type Node } from '../../ir/index.ts';
import {
  blockSelfAttentions, chooseTiles, importanceFromStore, keptTilesParam, pruneTokens, scheduleFromStore, withTensors,
} from '../../passes/prune-tokens.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import { runReference } from '../../runtime/reference.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { narrowTinySmallClip } from '../compiler/model/narrow-tiny.ts';
import { expectClose } from '../runtime/reference-helpers.ts';
import { ir } from './expect-pass.ts';

// one self-attention over 10 tokens (tiles of 4: keys 0-3, 4-7 and the partial 8-9) and a cross-attention beside it
const BEFORE = `
  graph g(%x: f32[1,10,4], %e: f32[1,3,4]) {
    %0: f32[4,4] = param{name="blocks.0.attn.q.weight"}()
    %1: f32[1,10,4] = linear(%x, %0)
    %2: f32[1,10,1,4] = reshape{shape=[1,10,1,4]}(%1)
    %3: f32[1,1,10,4] = permute{perm=[0,2,1,3]}(%2)
    %4: f32[1,1,10,4] = attention{scale=0.5}(%3, %3, %3)
    %5: f32[4,4] = param{name="blocks.0.cross_attn.q.weight"}()
    %6: f32[1,10,4] = linear(%x, %5)
    %7: f32[1,10,1,4] = reshape{shape=[1,10,1,4]}(%6)
    %8: f32[1,1,10,4] = permute{perm=[0,2,1,3]}(%7)
    %9: f32[1,1,3,4] = reshape{shape=[1,1,3,4]}(%e)
    %10: f32[1,1,10,4] = attention{scale=0.5}(%8, %9, %9)
    return %4, %10
  }`;

const AFTER = `
  graph g(%x: f32[1,10,4], %e: f32[1,3,4]) {
    %0: f32[4,4] = param{name="blocks.0.attn.q.weight"}()
    %1: f32[1,10,4] = linear(%x, %0)
    %2: f32[1,10,1,4] = reshape{shape=[1,10,1,4]}(%1)
    %3: f32[1,1,10,4] = permute{perm=[0,2,1,3]}(%2)
    %4: i32[2] = param{name="blocks.0.attn.kept_tiles"}()
    %5: f32[1,1,10,4] = sparse_attention{scale=0.5, tile=4}(%3, %3, %3, %4)
    %6: f32[4,4] = param{name="blocks.0.cross_attn.q.weight"}()
    %7: f32[1,10,4] = linear(%x, %6)
    %8: f32[1,10,1,4] = reshape{shape=[1,10,1,4]}(%7)
    %9: f32[1,1,10,4] = permute{perm=[0,2,1,3]}(%8)
    %10: f32[1,1,3,4] = reshape{shape=[1,1,3,4]}(%e)
    %11: f32[1,1,10,4] = attention{scale=0.5}(%9, %10, %10)
    return %5, %11
  }`;

describe('chooseTiles', () => {
  // 10 keys in tiles of 3: sums 3, 30, 12, 5 (the last tile holds one key)
  const s = [1, 1, 1, 10, 10, 10, 4, 4, 4, 5];
  it('keeps the ceil(keep·T) highest-scoring tiles, ascending', () => {
    expect(chooseTiles(s, 0.5, 3)).toEqual([1, 2]);
    expect(chooseTiles(s, 0.25, 3)).toEqual([1]);
    expect(chooseTiles(s, 0.51, 3)).toEqual([1, 2, 3]);
    expect(chooseTiles(s, 1, 3)).toEqual([0, 1, 2, 3]);
  });
  it('always keeps the tiles holding the first keepFirst tokens, inside the budget', () => {
    expect(chooseTiles(s, 0.5, 3, 1)).toEqual([0, 1]);
    expect(chooseTiles(s, 0.5, 3, 4)).toEqual([0, 1]);
    expect(chooseTiles(s, 0.25, 3, 7)).toEqual([0, 1, 2]); // forced tiles exceed the budget of 1
  });
  it('counts keep·T without float noise and breaks ties toward the lower tile', () => {
    expect(chooseTiles(new Array(10).fill(1), 0.3, 1)).toEqual([0, 1, 2]);
    expect(chooseTiles([2, 2, 1, 1, 2, 2], 0.5, 2)).toEqual([0, 2]);
  });
});

describe('pruneTokens IR', () => {
  it('replaces only the block self-attention by sparse_attention over a param tile list (Before/After)', () => {
    const g = parse(ir(BEFORE));
    const importance = new Map([[0, Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0, 0, 9])]]);
    const out = pruneTokens(g, { keep: 0.5, tile: 4, importance });
    verify(out.graph);
    expect(print(out.graph)).toBe(ir(AFTER));
    expect(Array.from(out.tensors.get('blocks.0.attn.kept_tiles')!.data)).toEqual([0, 2]);
    expect(out.report).toEqual([
      { block: 0, totalTiles: 3, totalKeys: 10, ranges: [{ keptTiles: [0, 2], keptKeys: 6, keptFraction: 0.6 }], keptFraction: 0.6 },
    ]);
    expect(print(g)).toBe(ir(BEFORE));
  });

  it('keep = 1 (or a budget covering every tile) returns the very graph', () => {
    const g = parse(ir(BEFORE));
    const importance = new Map([[0, new Float32Array(10).fill(1)]]);
    const all = pruneTokens(g, { keep: 1, tile: 4, importance });
    expect(all.graph).toBe(g);
    expect(all.tensors.size).toBe(0);
    expect(all.report[0]!.keptFraction).toBe(1);
    expect(pruneTokens(g, { keep: 0.9, tile: 4, importance }).graph).toBe(g);
  });

  it('a schedule gives one −1-padded row per timestep range and reads the graph input t', () => {
    const g = parse(ir(BEFORE).replace('%e: f32[1,3,4])', '%e: f32[1,3,4], %t: f32[1])'));
    const early = new Map([[0, Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0, 0, 9])]]);
    const late = new Map([[0, Float32Array.from([0, 0, 0, 0, 5, 5, 5, 5, 0, 0])]]);
    const out = pruneTokens(g, { tile: 4, ranges: [{ keep: 1, importance: early }, { keep: 0.3, importance: late }], bounds: [0.6] });
    verify(out.graph);
    expect(print(out.graph)).toContain('%4: i32[2,3] = param{name="blocks.0.attn.kept_tiles"}()');
    expect(print(out.graph)).toContain('sparse_attention{bounds=[0.6], scale=0.5, tile=4}(%3, %3, %3, %4, %t)');
    expect(Array.from(out.tensors.get('blocks.0.attn.kept_tiles')!.data)).toEqual([0, 1, 2, 1, -1, -1]);
    expect(out.report[0]!.ranges.map((r) => r.keptFraction)).toEqual([1, 0.4]);
    expect(out.report[0]!.keptFraction).toBeCloseTo(0.7, 12);
    expect(() => pruneTokens(parse(ir(BEFORE)), { ranges: [{ keep: 1, importance: early }, { keep: 0.3, importance: late }],
      bounds: [0.6], tile: 4 })).toThrow(/a schedule needs the graph input t: f\[1\]/);
    expect(() => pruneTokens(g, { ranges: [{ keep: 1, importance: early }], bounds: [0.6] })).toThrow(/1 ranges need 0/);
    expect(() => pruneTokens(g, { ranges: [{ keep: 1, importance: early }, { keep: 0.5, importance: late },
      { keep: 0.5, importance: late }], bounds: [0.3, 0.6] })).toThrow(/strictly descending/);
  });

  it('rejects bad options and importance with clear messages', () => {
    const g = parse(ir(BEFORE));
    const ok = new Map([[0, new Float32Array(10).fill(1)]]);
    expect(() => pruneTokens(g, { keep: 0, importance: ok })).toThrow(/keep must be in \(0, 1\], got 0/);
    expect(() => pruneTokens(g, { keep: 1.5, importance: ok })).toThrow(/keep must be in \(0, 1\]/);
    expect(() => pruneTokens(g, { keep: 0.5, tile: 0, importance: ok })).toThrow(/tile must be an integer ≥ 1/);
    expect(() => pruneTokens(g, { keep: 0.5, keepFirst: -1, importance: ok })).toThrow(/keepFirst must be/);
    expect(() => pruneTokens(g, { keep: 0.5, importance: new Map() })).toThrow(/block 0 has no importance/);
    expect(() => pruneTokens(g, { keep: 0.5, importance: new Map([[0, new Float32Array(9)]]) }))
      .toThrow(/block 0 importance has 9 keys, its attention 10/);
    expect(() => pruneTokens(g, { keep: 0.5, importance: new Map([[0, new Float32Array(10).fill(NaN)]]) }))
      .toThrow(/S\[0\] = NaN is not finite/);
    expect(() => pruneTokens(g, { keep: 0.5, importance: new Map([...ok, [3, new Float32Array(10)]]) }))
      .toThrow(/block\(s\) 3, which have no self-attention/);
  });
});

describe('pruneTokens on a small DiT', () => {
  const cfg = narrowTinySmallClip(1);
  const dense = buildDiT(cfg);
  const attns = blockSelfAttentions(dense);
  const nk = attns.get(0)!.src[1]!.type.shape[2]!;
  const weights = seededWeights(dense, 3);
  const inputs = seededInputs(dense, 4);
  // importance peaked on a few keys that differ per block
  const importance = new Map([...attns.keys()].map((b) =>
    [b, Float32Array.from({ length: nk }, (_, j) => 1 + ((j * (b + 3)) % 7))] as const));

  /** dense with each pruned block's self-attention given an additive −∞ mask off its kept tiles */
  type Masked = { g: Graph; masks: Map<string, Tensor> };
  function maskedDense(kept: ReadonlyMap<number, readonly number[]>, tile: number): Masked {
    const swaps = new Map<Node, Node>();
    const masks = new Map<string, Tensor>();
    for (const [b, tiles] of kept) {
      const a = attns.get(b)!;
      const m = new Float32Array(nk).fill(-Infinity);
      for (const t of tiles) m.fill(0, t * tile, Math.min((t + 1) * tile, nk));
      const p = node('param', [], { name: `mask.${b}` }, tensorType('f32', [nk]));
      masks.set(`mask.${b}`, tensor(p.type, m));
      swaps.set(a, node('attention', [...a.src, p], a.attrs));
    }
    return { g: substitute(dense, swaps), masks };
  }

  it('finds one self-attention per block and rewrites each', () => {
    expect([...attns.keys()]).toEqual([0, 1]);
    const out = pruneTokens(dense, { keep: 0.5, tile: 4, importance });
    verify(out.graph);
    expect(stats(dense)['attention']).toBe(2);
    expect(stats(out.graph)['attention']).toBeUndefined();
    expect(stats(out.graph)['sparse_attention']).toBe(2);
    expect(out.report.map((r) => [r.block, r.ranges[0]!.keptTiles.length, r.totalTiles])).toEqual([[0, 4, 8], [1, 4, 8]]);
    expect(out.report.every((r) => r.keptFraction === 0.5)).toBe(true);
    expect([...out.tensors.keys()]).toEqual([keptTilesParam(0), keptTilesParam(1)]);
  });

  it('equals dense at keep = 1 and masked dense at keep < 1 on the reference', () => {
    const want = runReference(dense, inputs, weights)[0]!;
    const same = pruneTokens(dense, { keep: 1, tile: 4, importance });
    expect(same.graph).toBe(dense);
    for (const [keep, tile, keepFirst] of [[0.5, 4, 0], [0.3, 5, 6]] as const) {
      const out = pruneTokens(dense, { keep, tile, importance, keepFirst });
      const got = runReference(out.graph, inputs, withTensors(weights, out.tensors))[0]!;
      const kept = new Map(out.report.map((r) => [r.block, r.ranges[0]!.keptTiles]));
      // keepFirst 6 in tiles of 5: tiles 0 and 1 hold leading tokens and are kept in every block
      if (keepFirst) for (const r of out.report) expect(r.ranges[0]!.keptTiles.slice(0, 2)).toEqual([0, 1]);
      const { g, masks } = maskedDense(kept, tile);
      const ref = runReference(g, inputs, withTensors(weights, masks))[0]!;
      // f64-accumulated softmax either way, rounded to f32 per op: measured 3e-8 apart
      expectClose(got.data, ref.data, 2e-7, 1e-6);
      // not vacuous: pruning moved the output (by ~1e-4 with these small seeded weights)
      const moved = Math.max(...Array.from(got.data, (x, i) => Math.abs(x - want.data[i]!)));
      expect(moved).toBeGreaterThan(2e-5);
    }
  });
});

describe('scheduled pruneTokens on a small DiT', () => {
  const cfg = narrowTinySmallClip(1);
  const dense = buildDiT(cfg);
  const nk = blockSelfAttentions(dense).get(0)!.src[1]!.type.shape[2]!;
  const weights = seededWeights(dense, 3);
  const imp = (k: number) => new Map([0, 1].map((b) => [b, Float32Array.from({ length: nk }, (_, j) => 1 + ((j * (b + k)) % 7))] as const));
  const withT = (t: number): Record<string, Tensor> => {
    const ins = seededInputs(dense, 4);
    return { ...ins, t: tensor(ins['t']!.type, new Float32Array(ins['t']!.data.length).fill(t)) };
  };

  it('runs each step with its range\'s tiles: the noisy range as keep=1, the late one as its own keep=0.5', () => {
    const [early, late] = [imp(3), imp(5)];
    const out = pruneTokens(dense, { tile: 4, ranges: [{ keep: 1, importance: early }, { keep: 0.5, importance: late }], bounds: [0.5] });
    const w = withTensors(weights, out.tensors);
    const uniform = pruneTokens(dense, { tile: 4, keep: 0.5, importance: late });
    for (const t of [0.9, 0.2]) {
      const got = runReference(out.graph, withT(t), w)[0]!;
      const want = t > 0.5 ? runReference(dense, withT(t), weights)[0]!
        : runReference(uniform.graph, withT(t), withTensors(weights, uniform.tensors))[0]!;
      // same tiles either way; all kept tiles vs dense: f64-accumulated softmax in another order, ~1e-8 apart
      expectClose(got.data, want.data, 2e-7, 1e-6);
    }
  });
});

describe('scheduleFromStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vdit-sched-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('splits the steps evenly, ranks each range by its own steps, and puts bounds halfway between step timesteps', () => {
    const header = { model: 'm', dtype: 'f32' as const, blocks: 1, tokens: 1, channels: 1, textTokens: 0, keys: 2,
      prompts: 1, steps: 4, guidance: 1, seed: 0 };
    const w = StoreWriter.create(join(dir, 's'), header);
    const ts = [1, 0.8, 0.5, 0.1];
    for (let step = 0; step < 4; step++) {
      w.append({ prompt: 0, cls: 0, step, t: ts[step]!, branch: 'cond' }, [new Float32Array(1)],
        [Float32Array.from(step < 2 ? [step + 1, 0] : [0, step])]);
    }
    w.finish();
    const store = StoreReader.open(join(dir, 's'));
    const s = scheduleFromStore(store, [1, 0.5]);
    expect(s.bounds).toEqual([0.65]);
    expect(s.ranges.map((r) => r.keep)).toEqual([1, 0.5]);
    expect(Array.from(s.ranges[0]!.importance.get(0)!)).toEqual([1.5, 0]);
    expect(Array.from(s.ranges[1]!.importance.get(0)!)).toEqual([0, 2.5]);
    expect(() => scheduleFromStore(store, [1, 1, 1, 1, 1])).toThrow(/needs 1..4/);
  });
});

const gpu = await openDevice().catch(() => undefined);
afterAll(() => gpu && closeDevice(gpu));

// the handmade graph, not the DiT: every extra kernel costs seconds of shader compilation on lavapipe
describe('pruned graph on the WGSL executor', () => {
  it.skipIf(!gpu)('uploads the tile-list param and matches the reference (skipped without WebGPU)', async () => {
    const g = parse(ir(BEFORE));
    const importance = new Map([[0, Float32Array.from([0, 0, 0, 0, 2, 1, 1, 1, 3, 0])]]);
    const out = pruneTokens(g, { keep: 0.5, tile: 4, importance });
    const weights = withTensors(seededWeights(g, 3), out.tensors);
    const inputs = seededInputs(g, 4);
    const want = runReference(out.graph, inputs, weights);
    const exec = await WgslExecutor.create(gpu!, out.graph, weights, { elem: 'f32' });
    const got = (await exec.run(inputs)).outputs;
    exec.dispose();
    expect(exec.program.steps.map((st) => st.kernel.name)).toContain('sparse_attention');
    expect(compareTensors(got[0]!, want[0]!).maxRelError).toBeLessThan(1e-4);
    expect(compareTensors(got[1]!, want[1]!).maxRelError).toBeLessThan(1e-4);
  }, 300_000);
});

describe('importanceFromStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vdit-prune-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('averages S per block over the records', () => {
    const header = { model: 'm', dtype: 'f32' as const, blocks: 2, tokens: 1, channels: 1, textTokens: 0, keys: 3,
      prompts: 1, steps: 2, guidance: 1, seed: 0 };
    const w = StoreWriter.create(join(dir, 's'), header);
    const rec = (step: number) => ({ prompt: 0, cls: 0, step, t: step / 2, branch: 'cond' as const });
    const inputs = [new Float32Array(1), new Float32Array(1)];
    w.append(rec(0), inputs, [Float32Array.from([1, 2, 3]), Float32Array.from([0, 0, 6])]);
    w.append(rec(1), inputs, [Float32Array.from([3, 2, 1]), Float32Array.from([2, 0, 0])]);
    w.finish();
    const s = importanceFromStore(StoreReader.open(join(dir, 's')));
    expect([...s.keys()]).toEqual([0, 1]);
    expect(Array.from(s.get(0)!)).toEqual([2, 2, 2]);
    expect(Array.from(s.get(1)!)).toEqual([1, 0, 3]);
  });
});
