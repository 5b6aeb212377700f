import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { node, type Node } from '../../../ir/node.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import { emulateKernel, GXX } from './emulate/emulate.ts';
import { CTX, emulatedError, f32, golden, input, NVCC, nvccCompile, reference, rng } from './harness.ts';

/*
 * The block-sparse flash kernel: golden source, nvcc type-check, and the kernel run under g++ emulation against
 * the CPU reference (which tests/runtime checks against dense attention with a −∞ mask). No GPU here.
 */

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-sparse-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


interface Case {
  readonly n: Node;
  readonly inputs: Record<string, Tensor>;
}

/** A sparse_attention node of [B, H, Nq, Nk, D, Dv] over random inputs and the given tile list. */
function sparseCase(dims: readonly number[], tile: number, tiles: readonly number[], seed: number): Case {
  const [B, H, Nq, Nk, D, Dv] = dims;
  const r = rng(seed);
  const inputs: Record<string, Tensor> = {
    q: f32(r, [B!, H!, Nq!, D!]), k: f32(r, [B!, H!, Nk!, D!]), v: f32(r, [B!, H!, Nk!, Dv!]),
    tiles: tensor({ dtype: 'i32', shape: [tiles.length] }, Int32Array.from(tiles)),
  };
  const leaves = Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
  return { n: node('sparse_attention', leaves, { scale: 0.3, tile }), inputs };
}

/** The scheduled form: rows (default all / two / one tile, −1 padded), one batch element in each range. */
function scheduledCase(seed: number, rows = [[0, 1, 2, 3, 4], [1, 3, -1, -1, -1], [4, -1, -1, -1, -1]]): Case {
  const [B, H, Nq, Nk, D] = [3, 2, 19, 40, 8];
  const r = rng(seed);
  const inputs: Record<string, Tensor> = {
    q: f32(r, [B, H, Nq, D]), k: f32(r, [B, H, Nk, D]), v: f32(r, [B, H, Nk, D]),
    tiles: tensor({ dtype: 'i32', shape: [3, 5] }, Int32Array.from(rows.flat())),
    t: tensor({ dtype: 'f32', shape: [B] }, Float32Array.from([0.1, 0.9, 0.5])),
  };
  const leaves = Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
  return { n: node('sparse_attention', leaves, { scale: 0.3, tile: 8, bounds: [0.7, 0.3] }), inputs };
}

/**
 * The per-query-tile form with query tiles of qtile rows: a seeded −1-padded list per (b, h, query tile); with
 * `empty`, every empty-th list from the second (index i, i % empty = 1) is −1 only.
 */
function qtileCase(dims: readonly number[], tile: number, qtile: number, seed: number, empty = 0): Case {
  const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
  const [QT, KT] = [Math.ceil(Nq / qtile), Math.ceil(Nk / tile)];
  const r = rng(seed);
  const width = Math.min(3, KT);
  const lists = Array.from({ length: B * H * QT }, () => {
    const pick = Array.from({ length: KT }, (_, t) => t).filter(() => r() < 0.4).slice(0, width);
    const row = pick.length ? pick : [KT - 1];
    return [...row, ...new Array<number>(width - row.length).fill(-1)];
  }).map((list, i) => (empty && i % empty === 1 ? list.map(() => -1) : list));
  const inputs: Record<string, Tensor> = {
    q: f32(r, [B, H, Nq, D]), k: f32(r, [B, H, Nk, D]), v: f32(r, [B, H, Nk, D]),
    tiles: tensor({ dtype: 'i32', shape: [B, H, QT, width] }, Int32Array.from(lists.flat())),
  };
  const leaves = Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
  return { n: node('sparse_attention', leaves, { scale: 0.3, tile, qtile }), inputs };
}

const CASES: Record<string, Case> = {
  // tile 40 > the 32-key chunk: a full and a partial chunk per tile; tile 2 (keys 80..89) is the partial last one
  'tile 40, Nq=70 over two blocks, partial last tile': sparseCase([2, 2, 70, 90, 24, 20], 40, [0, 2], 1),
  // tile 5 < the chunk: one chunk per tile, mostly masked
  'tile 5, scattered tiles': sparseCase([1, 2, 19, 33, 16, 16], 5, [1, 3, 6], 2),
  'only the last one-key tile': sparseCase([1, 1, 9, 33, 8, 12], 4, [8], 3),
  'scheduled by timestep: a row per batch element': scheduledCase(4),
  // per query tile of 96 rows (key tiles of 32): 48-thread blocks, two a query tile, the last tile of 54 rows
  'per query tile, tile 32, qtile 96, Nq 150': qtileCase([1, 2, 150, 100, 24], 32, 96, 5),
  'per query tile, tile 16, qtile 40, Nq 100': qtileCase([2, 1, 100, 90, 8], 16, 40, 6),
};

/** Lists of −1 only (a schedule range that keeps nothing): those rows give 0, not 0/0; `empty` marks their rows. */
const EMPTY: Record<string, Case & { readonly empty: (row: number) => boolean }> = {
  // t = 0.1, 0.9, 0.5 read rows 2, 0, 1: batch element 2 (rows 2·2·19 on) reads the empty row
  'scheduled, the middle range keeps nothing': {
    ...scheduledCase(7, [[0, 1, 2, 3, 4], [-1, -1, -1, -1, -1], [2, 4, -1, -1, -1]]),
    empty: (row) => row >= 2 * 2 * 19,
  },
  // lists (b·H + h)·QT + qt with index % 3 = 1 are empty; QT = 3 query tiles of 40 rows over Nq 100
  'per query tile, qtile 40, every third list empty': {
    ...qtileCase([2, 1, 100, 90, 8], 16, 40, 8, 3),
    empty: (row) => (Math.floor(row / 100) * 3 + Math.floor((row % 100) / 40)) % 3 === 1,
  },
  'per query tile, tile 5, every third list empty': {
    ...qtileCase([1, 2, 23, 31, 8], 5, 5, 9, 3),
    empty: (row) => (Math.floor(row / 23) * 5 + Math.floor((row % 23) / 5)) % 3 === 1,
  },
};

describe('CUDA sparse attention', () => {
  it('emits stable source (golden)', () => {
    const k = lowerCudaNode(CASES['tile 5, scattered tiles']!.n, CTX);
    expect(k.source).toBe(golden('attention_sparse', k.source));
    expect(k.name).toBe('sparse_attention_flash');
    expect(k.params).toEqual(['const float*', 'const float*', 'const float*', 'const int*', 'float*']);
  });

  it('per query tile, a block divides qtile (qtile 96 → 48 threads) and reads its query tile\'s row', () => {
    const k = lowerCudaNode(CASES['per query tile, tile 32, qtile 96, Nq 150']!.n, CTX);
    expect(k.block).toEqual([48, 1, 1]);
    expect(k.source).toContain('const unsigned srow = bh * 2u + (blk % 4u) * 48u / 96u;');
  });

  it('counts flops by the kept keys and refuses head dims over the shared-memory tile', () => {
    const a = lowerCudaNode(sparseCase([1, 1, 8, 64, 8, 8], 16, [0, 2], 1).n, CTX);
    const b = lowerCudaNode(sparseCase([1, 1, 8, 64, 8, 8], 16, [0, 1, 2, 3], 1).n, CTX);
    expect(a.flops! * 2).toBe(b.flops);
    const wide = sparseCase([1, 1, 4, 8, 256, 256], 4, [0], 1).n;
    expect(() => lowerCudaNode(wide, CTX)).toThrow('cuda: sparse_attention head dims 256 + 256 exceed the flash');
  });

  it.skipIf(!NVCC)('compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    const cases = [...Object.values(CASES), ...Object.values(EMPTY)];
    expect(() => nvccCompile(cases.map((c) => lowerCudaNode(c.n, CTX)))).not.toThrow();
  }, 300_000);
});

describe.skipIf(!GXX)('CUDA sparse attention emulated on the CPU vs the reference (needs g++)', () => {
  it.each(Object.keys(CASES))('%s', (name) => {
    const c = CASES[name]!;
    const { worst, want } = emulatedError(c.n, c.inputs, join(dir, name.replace(/[^a-z0-9]+/gi, '_')));
    // f32 online softmax in another order than the f64 reference: a few ulps
    expect(worst).toBeLessThanOrEqual(2e-5);
    expect(Array.from(want.data as ArrayLike<number>).some((v) => Math.abs(v) > 1e-3)).toBe(true);
  }, 120_000);
});

describe.skipIf(!GXX)('CUDA sparse attention over empty lists, emulated vs the reference (needs g++)', () => {
  it.each(Object.keys(EMPTY))('%s: rows of 0 there, the rest as before', (name) => {
    const c = EMPTY[name]!;
    const operands = c.n.src.map((s) => c.inputs[s.attrs['name'] as string]!);
    const work = join(dir, `empty_${name.replace(/[^a-z0-9]+/gi, '_')}`);
    const got = emulateKernel(lowerCudaNode(c.n, CTX), c.n, operands, work);
    const want = reference(c.n, c.inputs);
    const Dv = c.n.type.shape[3]!;
    const rows = Array.from({ length: got.data.length / Dv }, (_, i) => got.data.subarray(i * Dv, (i + 1) * Dv));
    expect(rows.some((_, i) => c.empty(i)) && rows.some((_, i) => !c.empty(i))).toBe(true);
    rows.forEach((row, i) => expect(Array.from(row).every((x) => x === 0)).toBe(c.empty(i)));
    // f32 online softmax in another order than the f64 reference: a few ulps, as above
    const worst = Math.max(...Array.from(want.data, (w, i) => Math.abs(Number(got.data[i]) - w) / Math.max(1, Math.abs(w))));
    expect(worst).toBeLessThanOrEqual(2e-5);
  }, 120_000);
});
