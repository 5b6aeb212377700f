import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emitCuda } from '../../../compiler/compile/emit-cuda.ts';
import { lowerQuantized } from '../../../compiler/compile/quant-build.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { graph as irGraph } from '../../../ir/graph.ts';
import { node, type Node } from '../../../ir/node.ts';
import { runReference } from '../../../runtime/reference.ts';
import { samplerBounds } from '../../../passes/prune-schedule.ts';
import { poolKeyTiles } from '../../../passes/prune-tokens.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import { emulateKernel, GXX } from './emulate/emulate.ts';
import { narrowTinySmallClip } from '../../compiler/model/narrow-tiny.ts';
import { CTX, emulatedError, f32, input, NVCC, nvccCompile, reference, rng } from './harness.ts';

/*
 * tile_select and the per-query-tile sparse_attention in CUDA: nvcc type-check, and the kernels run under g++
 * emulation against the CPU reference (tile lists exact; attention within the f32 tolerance of the sparse tests).
 */

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-select-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


interface Case {
  readonly n: Node;
  readonly inputs: Record<string, Tensor>;
}

/** tile_select over random q, k of [B, H, Nq, Nk, D]. */
function selectCase(dims: readonly number[],
  attrs: { tile: number; qtile?: number; keep: number; keepFirst: number; scale: number }, seed: number): Case {
  const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
  const r = rng(seed);
  const inputs = { q: f32(r, [B, H, Nq, D]), k: f32(r, [B, H, Nk, D]) };
  return { n: node('tile_select', [input('q', 'f32', [B, H, Nq, D]), input('k', 'f32', [B, H, Nk, D])], attrs), inputs };
}

/** sparse_attention per query tile (qtile rows when given), its lists the reference's tile_select of the same q, k. */
function perQueryTileCase(dims: readonly number[], tile: number, seed: number, qtile?: number): Case {
  const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
  const q2 = qtile === undefined ? {} : { qtile };
  const sel = selectCase(dims, { tile, keep: 0.4, keepFirst: 2, scale: 0.5, ...q2 }, seed);
  const r = rng(seed + 1);
  const inputs = { ...sel.inputs, v: f32(r, [B, H, Nk, D]), tiles: reference(sel.n, sel.inputs) };
  const leaves = [input('q', 'f32', [B, H, Nq, D]), input('k', 'f32', [B, H, Nk, D]), input('v', 'f32', [B, H, Nk, D]),
    input('tiles', 'i32', sel.n.type.shape)];
  return { n: node('sparse_attention', leaves, { scale: 0.3, tile, ...q2 }), inputs };
}

const SELECT: Record<string, Case> = {
  'tile 4, partial last tiles, keepFirst 5': selectCase([2, 2, 11, 29, 8], { tile: 4, keep: 0.5, keepFirst: 5, scale: 0.7 }, 1),
  'KT 150 over a 128-thread block, negative scale': selectCase([1, 1, 6, 300, 4], { tile: 2, keep: 0.2, keepFirst: 0, scale: -1 }, 2),
  'keep 1: every tile': selectCase([1, 2, 9, 20, 6], { tile: 5, keep: 1, keepFirst: 0, scale: 1 }, 3),
  'qtile = 2·tile, partial last query tile': selectCase([2, 2, 19, 29, 8],
    { tile: 4, qtile: 8, keep: 0.5, keepFirst: 5, scale: 0.7 }, 15),
  'tile 16, qtile 40 over Nq 100': selectCase([1, 2, 100, 90, 8],
    { tile: 16, qtile: 40, keep: 0.4, keepFirst: 0, scale: 0.5 }, 16),
};

/** The scheduled form: one timestep per sample, chosen to put the samples in different ranges. */
function scheduledCase(dims: readonly number[],
  attrs: { tile: number; qtile?: number; keeps: number[]; bounds: number[]; keepFirst: number; scale: number },
  t: number[], seed: number): Case {
  const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
  const r = rng(seed);
  const inputs = { q: f32(r, [B, H, Nq, D]), k: f32(r, [B, H, Nk, D]), t: tensor(input('t', 'f32', [B]).type, Float32Array.from(t)) };
  const leaves = [input('q', 'f32', [B, H, Nq, D]), input('k', 'f32', [B, H, Nk, D]), input('t', 'f32', [B])];
  return { n: node('tile_select', leaves, attrs), inputs };
}

const SCHEDULED: Record<string, Case> = {
  'three ranges over 4 samples (t = f32(0.7) just below 0.7), keepFirst 5': scheduledCase([4, 2, 11, 29, 8],
    { tile: 4, keeps: [1, 0.5, 0.25], bounds: [0.7, 0.3], keepFirst: 5, scale: 0.7 }, [0.9, 0.7, 0.5, 0.1], 6),
  'the small budget first, KT 150 over a 128-thread block': scheduledCase([2, 1, 6, 300, 4],
    { tile: 2, keeps: [0.1, 0.6], bounds: [0.5], keepFirst: 0, scale: -1 }, [0.8, 0.2], 7),
  'one range (no bounds)': scheduledCase([2, 1, 9, 20, 6], { tile: 5, keeps: [0.5], bounds: [], keepFirst: 0, scale: 1 }, [0.3, 0.9], 8),
};


/** The pooled form: q and k̄ = the reference's poolKeyTiles of a random k of Nk keys (attribute keys = Nk). */
function pooledCase(dims: readonly number[], attrs: Record<string, number | number[]>, seed: number, t?: number[]): Case {
  const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
  const tile = attrs['tile'] as number;
  const r = rng(seed);
  const [q, k] = [f32(r, [B, H, Nq, D]), f32(r, [B, H, Nk, D])];
  const kIn = input('k', 'f32', [B, H, Nk, D]);
  const kbar = runReference(irGraph('pool', [kIn], [poolKeyTiles(kIn, tile)]), { k }, { get: () => undefined, names: () => [] })[0]!;
  const tn = input('t', 'f32', [B]);
  const leaves = [input('q', 'f32', [B, H, Nq, D]), input('kbar', 'f32', kbar.type.shape), ...(t ? [tn] : [])];
  const inputs = { q, kbar, ...(t ? { t: tensor(tn.type, Float32Array.from(t)) } : {}) };
  return { n: node('tile_select', leaves, { ...attrs, keys: Nk }), inputs };
}

const POOLED: Record<string, Case> = {
  'a ragged last tile (N 200, tile 64), D 64': pooledCase([1, 2, 200, 200, 64], { tile: 64, keep: 0.5, keepFirst: 0, scale: 0.125 }, 11),
  'tile 4, keepFirst 5, negative scale, D 5': pooledCase([2, 2, 11, 29, 5], { tile: 4, keep: 0.3, keepFirst: 5, scale: -0.7 }, 12),
  'KT 150 over a 128-thread block': pooledCase([1, 1, 6, 300, 4], { tile: 2, keep: 0.2, keepFirst: 0, scale: 1 }, 13),
  'scheduled, three ranges over 4 samples': pooledCase([4, 2, 70, 200, 16],
    { tile: 64, keeps: [1, 0.5, 0.25], bounds: [0.7, 0.3], keepFirst: 5, scale: 0.5 }, 14, [0.9, 0.7, 0.5, 0.1]),
};

/** Scheduled and pooled cases whose ranges of keep 0 give rows of −1 only (not even keepFirst's), by sample. */
const EMPTY: Record<string, Case & { readonly empty: boolean[] }> = {
  // t = f32(0.7) lies below 0.7: in the empty range, as 0.5 is
  'keeps [1, 0, 0.5], keepFirst 5': {
    ...scheduledCase([4, 2, 11, 29, 8], { tile: 4, keeps: [1, 0, 0.5], bounds: [0.7, 0.3], keepFirst: 5, scale: 0.7 },
      [0.9, 0.7, 0.5, 0.1], 20),
    empty: [false, true, true, false],
  },
  'keeps [0.5, 0, 1], qtile 8 over key tiles of 4, keepFirst 6': {
    ...scheduledCase([3, 2, 19, 29, 8],
      { tile: 4, qtile: 8, keeps: [0.5, 0, 1], bounds: [0.6, 0.2], keepFirst: 6, scale: 0.5 }, [0.9, 0.4, 0.1], 21),
    empty: [false, true, false],
  },
  'pooled, keeps [1, 0, 0.5], keepFirst 5': {
    ...pooledCase([4, 2, 19, 29, 16], { tile: 4, keeps: [1, 0, 0.5], bounds: [0.7, 0.3], keepFirst: 5, scale: 0.5 }, 22,
      [0.9, 0.7, 0.5, 0.1]),
    empty: [false, true, true, false],
  },
  'pooled, keeps [1, 0, 0.5], qtile 8, keepFirst 5': {
    ...pooledCase([4, 2, 19, 29, 16],
      { tile: 4, qtile: 8, keeps: [1, 0, 0.5], bounds: [0.7, 0.3], keepFirst: 5, scale: 0.5 }, 23, [0.9, 0.7, 0.5, 0.1]),
    empty: [false, true, true, false],
  },
};

const SPARSE: Record<string, Case> = {
  'tile 16: one 16-query block per query tile': perQueryTileCase([1, 2, 37, 45, 8], 16, 4),
  'tile 5, Nq 23: 5-thread blocks': perQueryTileCase([2, 1, 23, 31, 8], 5, 5),
  'tile 8, qtile 16: 16-thread blocks over two key tiles of queries': perQueryTileCase([1, 2, 37, 45, 8], 8, 17, 16),
  'tile 16, qtile 40, Nq 100: 40-thread blocks': perQueryTileCase([1, 2, 100, 90, 8], 16, 18, 40),
};

describe('CUDA tile_select', () => {
  it('names its kernel, takes q, k and writes i32; refuses lists over 48 KiB of shared memory', () => {
    const k = lowerCudaNode(SELECT['tile 4, partial last tiles, keepFirst 5']!.n, CTX);
    expect(k.name).toBe('tile_select');
    expect(k.params).toEqual(['const float*', 'const float*', 'int*']);
    expect(k.source).toContain('kept = j < 2u');
    const big = selectCase([1, 1, 4, 20000, 8], { tile: 2, keep: 0.5, keepFirst: 0, scale: 1 }, 1).n;
    expect(() => lowerCudaNode(big, CTX)).toThrow('cuda: tile_select over 10000 key tiles');
    const sched = lowerCudaNode(SCHEDULED['three ranges over 4 samples (t = f32(0.7) just below 0.7), keepFirst 5']!.n, CTX);
    expect(sched.params).toEqual(['const float*', 'const float*', 'const float*', 'int*']);
    // bounds rounded up to f32, so t = f32(0.7) lands where the reference puts it
    expect(sched.source).toContain('(tb < 0.7000000476837158f ? 1u : 0u)');
    // pooled: one k̄ row per tile, its lanes splitting the head dim (no per-key loop, no division by the tile size)
    const pooled = lowerCudaNode(POOLED['a ragged last tile (N 200, tile 64), D 64']!.n, CTX);
    expect(pooled.source).toContain('const unsigned base = (bh * 4u + j) * 64u;');
    expect(pooled.source).not.toContain('r += 8u');
  });

  it('pools query tiles of qtile rows (QT = ceil(Nq/qtile) blocks); qtile = tile emits the source of no qtile', () => {
    const wide = lowerCudaNode(SELECT['tile 16, qtile 40 over Nq 100']!.n, CTX);
    expect(wide.source).toContain('const unsigned bh = blk / 3u, qt = blk % 3u, q0 = qt * 40u;');
    expect(wide.source).toContain('const unsigned qn = 100u - q0 < 40u ? 100u - q0 : 40u;');
    const a = { tile: 5, keep: 1, keepFirst: 0, scale: 1 };
    const same = lowerCudaNode(selectCase([1, 2, 9, 20, 6], { ...a, qtile: 5 }, 3).n, CTX);
    expect(same.source).toBe(lowerCudaNode(selectCase([1, 2, 9, 20, 6], a, 3).n, CTX).source);
    const sparse = lowerCudaNode(SPARSE['tile 16, qtile 40, Nq 100: 40-thread blocks']!.n, CTX);
    expect(sparse.block).toEqual([40, 1, 1]);
    expect(sparse.source).toContain('const unsigned srow = bh * 3u + (blk % 3u) * 40u / 40u;');
  });

  it.skipIf(!NVCC)('compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    const cases = [SELECT, SCHEDULED, POOLED, SPARSE, EMPTY].flatMap((t) => Object.values(t));
    expect(() => nvccCompile(cases.map((c) => lowerCudaNode(c.n, CTX)))).not.toThrow();
  }, 300_000);
});

describe('the tiny model pruned online with a schedule (--prune schedule=1/0.5,select=online,tile=4) in CUDA', () => {
  const graph = buildDiT(narrowTinySmallClip(2));
  const prune = { keeps: [1, 0.5], bounds: samplerBounds(2), tile: 4, keepFirst: 0, online: true } as const;
  const e = emitCuda(lowerQuantized(graph, seededWeights(graph, 7), 'w4a8', [], 'rtn', { prune }).graph);
  const selects = e.kernels.filter((k) => k.name === 'tile_select');

  it('emits the scheduled tile_select, reading t, for each block', () => {
    expect(selects.length).toBeGreaterThan(0);
    for (const k of selects) expect(k.params).toEqual(['const float*', 'const float*', 'const float*', 'int*']);
    // the pooled form: k̄ is read one row per tile
    for (const k of selects) expect(k.source).not.toContain('r += 8u');
  });

  it.skipIf(!NVCC)('compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    expect(() => nvccCompile(e.kernels)).not.toThrow();
  }, 300_000);
});

describe.skipIf(!GXX)('CUDA tile_select and per-query-tile sparse_attention emulated vs the reference (needs g++)', () => {
  it.each(Object.keys(SELECT))('tile_select exact: %s', (name) => {
    const c = SELECT[name]!;
    const got = emulateKernel(lowerCudaNode(c.n, CTX), c.n, [c.inputs['q']!, c.inputs['k']!], join(dir, `sel_${name.length}`));
    expect(Array.from(got.data)).toEqual(Array.from(reference(c.n, c.inputs).data));
  }, 120_000);

  it.each(Object.keys(SCHEDULED))('scheduled tile_select exact, −1 padding included: %s', (name) => {
    const c = SCHEDULED[name]!;
    const operands = [c.inputs['q']!, c.inputs['k']!, c.inputs['t']!];
    const got = emulateKernel(lowerCudaNode(c.n, CTX), c.n, operands, join(dir, `sched_${name.length}`));
    const want = Array.from(reference(c.n, c.inputs).data);
    expect(Array.from(got.data)).toEqual(want);
    if ((c.n.attrs['keeps'] as number[]).length > 1) expect(want).toContain(-1);
  }, 120_000);

  it.each(Object.keys(POOLED))('pooled tile_select (keys, k̄) exact: %s', (name) => {
    const c = POOLED[name]!;
    const operands = [c.inputs['q']!, c.inputs['kbar']!, ...(c.inputs['t'] ? [c.inputs['t']] : [])];
    const got = emulateKernel(lowerCudaNode(c.n, CTX), c.n, operands, join(dir, `pooled_${name.length}`));
    const want = Array.from(reference(c.n, c.inputs).data);
    expect(Array.from(got.data)).toEqual(want);
    if (c.inputs['t']) expect(want).toContain(-1);
  }, 120_000);

  it.each(Object.keys(EMPTY))('scheduled tile_select exact, ranges that keep nothing all −1: %s', (name) => {
    const c = EMPTY[name]!;
    const k = lowerCudaNode(c.n, CTX);
    // a range of keep 0 writes its −1 row and returns before scoring (no forced tiles, no wasted work)
    expect(k.source).toContain('if (keep == 0u) {');
    const operands = c.n.src.map((s) => c.inputs[s.attrs['name'] as string]!);
    const got = emulateKernel(k, c.n, operands, join(dir, `empty_${name.replace(/[^a-z0-9]+/gi, '_')}`));
    const want = reference(c.n, c.inputs);
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
    const per = want.data.length / c.empty.length;
    const allPadding = (b: number): boolean => Array.from(want.data.subarray(b * per, (b + 1) * per)).every((x) => x === -1);
    expect(c.empty.map((_, b) => allPadding(b))).toEqual(c.empty);
  }, 120_000);

  it.each(Object.keys(SPARSE))('sparse_attention per query tile: %s', (name) => {
    const c = SPARSE[name]!;
    const { worst, want } = emulatedError(c.n, c.inputs, join(dir, `sparse_${name.length}`));
    expect(worst).toBeLessThanOrEqual(2e-5);
    expect(Array.from(want.data as ArrayLike<number>).some((v) => Math.abs(v) > 1e-3)).toBe(true);
  }, 120_000);
});
