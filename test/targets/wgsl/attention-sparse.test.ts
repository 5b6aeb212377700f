import { describe, expect, it } from 'vitest';
import type { DType } from '../../../ir/dtype.ts';
import { node } from '../../../ir/node.ts';
import type { Shape } from '../../../ir/types.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { lowerNode } from '../../../targets/wgsl/select.ts';
import {
  expectClose, hasF16, hasGpu, input, randomTensor, rng, runBoth, runKernel, TOL_ACC, TOL_F16,
} from './harness.ts';

interface Case {
  readonly q: Shape;
  readonly nk: number;
  readonly dv?: number;
  readonly tile: number;
  readonly tiles: readonly number[];
}

function sparseCase(c: Case, seed: number, dtype: DType = 'f32') {
  const [B, H, , D] = c.q as [number, number, number, number];
  const dv = c.dv ?? D;
  const r = rng(seed);
  const leaves = [input('q', dtype, c.q), input('k', dtype, [B, H, c.nk, D]), input('v', dtype, [B, H, c.nk, dv]),
    input('tiles', 'i32', [c.tiles.length])];
  const inputs: Record<string, Tensor> = {
    q: randomTensor(r, dtype, c.q), k: randomTensor(r, dtype, [B, H, c.nk, D]),
    v: randomTensor(r, dtype, [B, H, c.nk, dv]),
    tiles: tensor({ dtype: 'i32', shape: [c.tiles.length] }, Int32Array.from(c.tiles)),
  };
  return { n: node('sparse_attention', leaves, { scale: 1 / Math.sqrt(D), tile: c.tile }), inputs };
}

/** A seeded non-empty ascending subset of the key tiles. */
function subset(seed: number, nk: number, tile: number): number[] {
  const r = rng(seed);
  const all = Array.from({ length: Math.ceil(nk / tile) }, (_, t) => t);
  const pick = all.filter(() => r() < 0.5);
  return pick.length ? pick : [all.length - 1];
}

const CASES: [string, Case][] = [
  ['tile 8 = a KV chunk multiple, Nq=Nk=40, D=32', { q: [1, 2, 40, 32], nk: 40, tile: 8, tiles: [0, 2, 4] }],
  ['tile 5, partial last tile kept, Nk=23', { q: [2, 1, 9, 16], nk: 23, tile: 5, tiles: [1, 4] }],
  ['tile 48 > KV_BLOCK: two chunks per tile, last partial',
    { q: [1, 2, 20, 24], nk: 100, dv: 40, tile: 48, tiles: [0, 2] }],
  ['only the last (one-key) tile', { q: [1, 1, 7, 8], nk: 33, tile: 4, tiles: [8] }],
  ['every tile (equals dense)', { q: [1, 2, 19, 16], nk: 30, tile: 7, tiles: [0, 1, 2, 3, 4] }],
  ['odd head dims D=5, Dv=3', { q: [1, 2, 11, 5], nk: 26, dv: 3, tile: 6, tiles: subset(3, 26, 6) }],
  ['Nq=70 over several workgroups, random tiles',
    { q: [2, 2, 70, 64], nk: 77, dv: 32, tile: 16, tiles: subset(4, 77, 16) }],
  ['head dim 128', { q: [1, 1, 20, 128], nk: 37, tile: 10, tiles: subset(5, 37, 10) }],
];

describe.skipIf(!hasGpu)('wgsl block-sparse attention vs the reference', () => {
  CASES.forEach(([name, c], i) => {
    it(`${name} f32`, async () => {
      const { n, inputs } = sparseCase(c, 500 + i);
      const [got, want, spec] = await runBoth(n, inputs, 'f32');
      expect(spec.name).toBe('sparse_attention');
      expect(Array.from(want.data as Float32Array).some((x) => Math.abs(x) > 1e-2)).toBe(true);
      expectClose(got, want, TOL_ACC);
    });
  });

  it.skipIf(!hasF16)('f16 storage, tile 6, partial last tile', async () => {
    const { n, inputs } = sparseCase({ q: [1, 2, 30, 64], nk: 45, tile: 6, tiles: [0, 3, 7] }, 520, 'f16');
    const [got, want] = await runBoth(n, inputs, 'f16');
    expectClose(got, want, TOL_F16);
  });

  it('reads no key outside the kept tiles (NaN there leaves the result unchanged)', async () => {
    const c: Case = { q: [1, 2, 12, 8], nk: 40, tile: 8, tiles: [1, 3] };
    const { n, inputs } = sparseCase(c, 530);
    const poison = (t: Tensor): Tensor => {
      const d = Float32Array.from(t.data as Float32Array);
      for (let bh = 0; bh < 2; bh++) {
        for (const [a, b] of [[0, 8], [16, 24], [32, 40]] as const) d.fill(NaN, (bh * 40 + a) * 8, (bh * 40 + b) * 8);
      }
      return tensor(t.type, d);
    };
    const [clean, want] = await runBoth(n, inputs, 'f32');
    expectClose(clean, want, TOL_ACC);
    const spec = lowerNode(n, CPU);
    const dirty = await runKernel(spec, [inputs['q']!, poison(inputs['k']!), poison(inputs['v']!), inputs['tiles']!],
      n.type, 'f32');
    expect(Array.from(dirty.data)).toEqual(Array.from(clean.data));
  });
});

const SCHEDULE_ROWS = [[0, 1, 2, 3, 4], [1, 3, -1, -1, -1], [4, -1, -1, -1, -1]];

/** The scheduled form: 3 rows (default: all tiles / two / the last, −1 padded) and 3 batch elements, one per row. */
function scheduledCase(seed: number, rows: readonly (readonly number[])[] = SCHEDULE_ROWS) {
  const [B, H, Nq, Nk, D] = [3, 2, 21, 40, 16];
  const r = rng(seed);
  const leaves = [input('q', 'f32', [B, H, Nq, D]), input('k', 'f32', [B, H, Nk, D]), input('v', 'f32', [B, H, Nk, D]),
    input('tiles', 'i32', [3, 5]), input('t', 'f32', [B])];
  const inputs: Record<string, Tensor> = {
    q: randomTensor(r, 'f32', [B, H, Nq, D]), k: randomTensor(r, 'f32', [B, H, Nk, D]),
    v: randomTensor(r, 'f32', [B, H, Nk, D]),
    tiles: tensor({ dtype: 'i32', shape: [3, 5] }, Int32Array.from(rows.flat())),
    t: tensor({ dtype: 'f32', shape: [B] }, Float32Array.from([0.1, 0.9, 0.5])),
  };
  return { n: node('sparse_attention', leaves, { scale: 0.6, tile: 8, bounds: [0.7, 0.3] }), inputs };
}

describe.skipIf(!hasGpu)('wgsl block-sparse attention, scheduled by timestep', () => {
  it('each batch element attends over its timestep\'s row of tiles, padding skipped', async () => {
    const { n, inputs } = scheduledCase(540);
    const [got, want, spec] = await runBoth(n, inputs, 'f32');
    expect(spec.source).toContain('let srow = ');
    expectClose(got, want, TOL_ACC);
  });

  it('a timestep at f32(bound) reads the reference\'s row (bounds compared as the least f32 ≥ b)', async () => {
    const { n, inputs } = scheduledCase(542);
    // f32(0.7) < 0.7 and f32(0.3) > 0.3: the reference (f64) puts them in rows 1 and 1
    const t = tensor({ dtype: 'f32', shape: [3] }, Float32Array.from([0.7, 0.3, 0.9]));
    const [got, want] = await runBoth(n, { ...inputs, t }, 'f32');
    expectClose(got, want, TOL_ACC);
  });

  it('a row of −1 only (a range that keeps nothing) gives 0 for its batch element, the others as before', async () => {
    // t = 0.1, 0.9, 0.5 read rows 2, 0, 1: batch element 2 reads the empty row
    const { n, inputs } = scheduledCase(541, [[0, 1, 2, 3, 4], [-1, -1, -1, -1, -1], [2, 4, -1, -1, -1]]);
    const [got, want] = await runBoth(n, inputs, 'f32');
    const per = got.data.length / 3;
    expect(Array.from(got.data.subarray(2 * per)).every((x) => x === 0)).toBe(true);
    expect(Array.from(got.data.subarray(0, 2 * per)).every((x) => Math.abs(x) > 0)).toBe(true);
    expectClose(got, want, TOL_ACC);
  });
});

/** Rows of `got` (…, Nq, Dv) whose query tile's list (every `every`-th from the second) is −1 only: all 0? */
function rowsOfEmptyLists(got: Tensor, nq: number, qtile: number, every: number): { empty: boolean; zero: boolean }[] {
  const [dv, qt] = [got.type.shape.at(-1)!, Math.ceil(nq / qtile)];
  return Array.from({ length: got.data.length / dv }, (_, row) => {
    const list = Math.floor(row / nq) * qt + Math.floor((row % nq) / qtile);
    const zero = Array.from(got.data.subarray(row * dv, (row + 1) * dv)).every((x) => x === 0);
    return { empty: list % every === 1, zero };
  });
}

/** Every `every`-th list from the second (list index i with i % every = 1) replaced by −1 only. */
function emptyLists(tiles: Tensor, every: number): Tensor {
  const width = tiles.type.shape.at(-1)!;
  const emptied = (x: number, i: number): number => (Math.floor(i / width) % every === 1 ? -1 : x);
  return tensor(tiles.type, Int32Array.from(tiles.data as Int32Array, emptied));
}

const CPU = { elem: 'f32', caps: DEFAULT_CAPS } as const;

describe('sparse attention kernel description', () => {
  it('counts work by the kept tiles and keys its pipeline by tile and scale', () => {
    const half = sparseCase({ q: [1, 2, 64, 32], nk: 256, tile: 64, tiles: [0, 2] }, 1).n;
    const all = sparseCase({ q: [1, 2, 64, 32], nk: 256, tile: 64, tiles: [0, 1, 2, 3] }, 1).n;
    const [a, b] = [lowerNode(half, CPU), lowerNode(all, CPU)];
    expect(a.flops! * 2).toBe(b.flops);
    expect(a.key).toContain('tile=64');
    expect(a.key).not.toBe(b.key);
    expect(a.source).toContain('for (var ti = 0u; ti < KEPT; ti++)');
  });

  it('names the limit when no block fits workgroup memory', () => {
    const { n } = sparseCase({ q: [1, 1, 4, 1024], nk: 8, tile: 4, tiles: [0] }, 1);
    expect(() => lowerNode(n, CPU)).toThrow(/sparse_attention head dims.*workgroup memory/);
  });
});

/** The per-query-tile form: every (b, h, query tile of qtile rows) its own seeded list, −1 padded. */
function perQueryTileCase(seed: number, Nq: number, tile: number, qtile?: number) {
  const [B, H, Nk, D] = [2, 2, 45, 16];
  const QT = Math.ceil(Nq / (qtile ?? tile));
  const total = Math.ceil(Nk / tile);
  const r = rng(seed);
  const width = Math.min(3, total);
  const lists = Array.from({ length: B * H * QT }, () => {
    const pick = Array.from({ length: total }, (_, t) => t).filter(() => r() < 0.4).slice(0, width);
    const row = pick.length ? pick : [total - 1];
    return [...row, ...new Array<number>(width - row.length).fill(-1)];
  });
  const leaves = [input('q', 'f32', [B, H, Nq, D]), input('k', 'f32', [B, H, Nk, D]), input('v', 'f32', [B, H, Nk, D]),
    input('tiles', 'i32', [B, H, QT, width])];
  const inputs: Record<string, Tensor> = {
    q: randomTensor(r, 'f32', [B, H, Nq, D]), k: randomTensor(r, 'f32', [B, H, Nk, D]),
    v: randomTensor(r, 'f32', [B, H, Nk, D]),
    tiles: tensor({ dtype: 'i32', shape: [B, H, QT, width] }, Int32Array.from(lists.flat())),
  };
  const attrs = { scale: 0.6, tile, ...(qtile === undefined ? {} : { qtile }) };
  return { n: node('sparse_attention', leaves, attrs), inputs };
}

describe.skipIf(!hasGpu)('wgsl block-sparse attention, per query tile', () => {
  it.each([[16, 37], [5, 23], [24, 50]])('tile %i, Nq %i: each query tile attends over its own row', async (tile, nq) => {
    const { n, inputs } = perQueryTileCase(550 + tile, nq, tile);
    const [got, want] = await runBoth(n, inputs, 'f32');
    expectClose(got, want, TOL_ACC);
  });

  it('picks Q_BLOCK dividing the tile (tile 24 → 12 queries per workgroup)', () => {
    const spec = lowerNode(perQueryTileCase(1, 50, 24).n, CPU);
    expect(spec.source).toContain('const Q_BLOCK: u32 = 12u;');
  });

  it.each([[8, 16, 37], [16, 40, 100], [5, 12, 23]])('tile %i, qtile %i, Nq %i: each query tile attends over its row',
    async (tile, qtile, nq) => {
      const { n, inputs } = perQueryTileCase(560 + qtile, nq, tile, qtile);
      const [got, want, spec] = await runBoth(n, inputs, 'f32');
      expect(spec.source).toContain(`q0 / ${qtile}u;`);
      expectClose(got, want, TOL_ACC);
    });

  it.each([[16, 16, 37], [8, 16, 37], [5, 12, 23]])('tile %i, qtile %i, Nq %i: empty lists (−1 only) give rows of 0',
    async (tile, qtile, nq) => {
      const c = perQueryTileCase(570 + qtile, nq, tile, qtile === tile ? undefined : qtile);
      const inputs = { ...c.inputs, tiles: emptyLists(c.inputs['tiles']!, 3) };
      const [got, want] = await runBoth(c.n, inputs, 'f32');
      const rows = rowsOfEmptyLists(got, nq, qtile, 3);
      expect(rows.filter((r) => r.empty).length).toBeGreaterThan(0);
      expect(rows.every((r) => r.zero === r.empty)).toBe(true);
      expectClose(got, want, TOL_ACC);
    });

  it('picks Q_BLOCK dividing qtile (qtile 40 → 10 queries per workgroup); qtile = tile changes nothing', () => {
    const spec = lowerNode(perQueryTileCase(1, 100, 16, 40).n, CPU);
    expect(spec.source).toContain('const Q_BLOCK: u32 = 10u;');
    expect(spec.key).toContain(';qtile=40');
    const plain = lowerNode(perQueryTileCase(1, 50, 24).n, CPU);
    const same = lowerNode(perQueryTileCase(1, 50, 24, 24).n, CPU);
    expect([same.source, same.key]).toEqual([plain.source, plain.key]);
  });
});
