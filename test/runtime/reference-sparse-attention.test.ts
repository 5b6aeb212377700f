import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../compiler/data/prng.ts';
import { node, tensorType, type DType } from '../../ir/index.ts';
import { checkTiles, rowTiles } from '../../runtime/reference-sparse-attention.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { expectClose, inp, rand, run1 } from './reference-helpers.ts';

// both sides accumulate in f64 and round once to f32; the online rescaling changes the f64 sum by ~1e-16
const TOL = 1e-6;

const tilesTensor = (list: readonly number[]): Tensor =>
  tensor(tensorType('i32', [list.length]), Int32Array.from(list));

/** Additive mask [Nk]: 0 on keys of the kept tiles, −∞ elsewhere. */
function keyMask(list: readonly number[], nk: number, tile: number, dtype: DType): Tensor {
  const m = new Float32Array(nk).fill(-Infinity);
  for (const t of list) m.fill(0, t * tile, Math.min((t + 1) * tile, nk));
  return tensor(tensorType(dtype, [nk]), m);
}

/** A random non-empty ascending subset of 0..total−1, from a seeded stream. */
function randomSubset(seed: number, total: number): number[] {
  const r = mulberry32(seed).next;
  const pick = Array.from({ length: total }, (_, t) => t).filter(() => r() < 0.5);
  return pick.length ? pick : [Math.floor(r() * total)];
}

/** [sparse_attention, attention with the equivalent mask] on one random q, k, v of [B, H, Nq, Nk, D, Dv]. */
function sparseVsMasked(
  dtype: DType, dims: number[], tile: number, list: readonly number[], seed: number,
): [Tensor, Tensor] {
  const [B, H, Nq, Nk, D, Dv] = dims;
  const [q, k, v] = [inp('q', dtype, [B!, H!, Nq!, D!]), inp('k', dtype, [B!, H!, Nk!, D!]),
    inp('v', dtype, [B!, H!, Nk!, Dv!])];
  const ins = {
    q: rand(dtype, [B!, H!, Nq!, D!], seed), k: rand(dtype, [B!, H!, Nk!, D!], seed + 1),
    v: rand(dtype, [B!, H!, Nk!, Dv!], seed + 2),
  };
  const scale = 1.7; // peaky enough that dropping keys changes the result visibly
  const sparse = node('sparse_attention', [q, k, v, inp('tiles', 'i32', [list.length])], { scale, tile });
  const dense = node('attention', [q, k, v, inp('m', dtype, [Nk!])], { scale });
  const mask = keyMask(list, Nk!, tile, dtype);
  return [run1(sparse, { ...ins, tiles: tilesTensor(list) }), run1(dense, { ...ins, m: mask })];
}

describe('sparse_attention reference', () => {
  // Nk = 29 in tiles of 4: 8 tiles, the last holding one key
  const shape = [2, 3, 11, 29, 8, 5];
  const subsets: [string, number[]][] = [
    ['every tile', [0, 1, 2, 3, 4, 5, 6, 7]],
    ['only the partial last tile', [7]],
    ['first and last', [0, 7]],
    ['a middle run', [2, 3, 4]],
    ...[1, 2, 3, 4].map((s): [string, number[]] => [`random subset ${s}`, randomSubset(50 + s, 8)]),
  ];
  it.each(subsets)('equals dense attention with a −∞ mask off the kept tiles: %s', (_name, list) => {
    const [got, want] = sparseVsMasked('f32', shape, 4, list, 10);
    expect(got.type).toEqual({ dtype: 'f32', shape: [2, 3, 11, 5] });
    expect(Array.from(got.data).some((x) => Math.abs(x) > 1e-2)).toBe(true);
    expectClose(got.data, want.data, 0, TOL);
  });

  it('differs from dense attention when tiles are dropped (the mask matters)', () => {
    const [got] = sparseVsMasked('f32', shape, 4, [1, 5], 10);
    const [all] = sparseVsMasked('f32', shape, 4, [0, 1, 2, 3, 4, 5, 6, 7], 10);
    const diff = Math.max(...Array.from(got.data, (x, i) => Math.abs(x - all.data[i]!)));
    expect(diff).toBeGreaterThan(0.05);
  });

  it('handles a tile as large as Nk and Nq ≠ Nk, Dv ≠ D', () => {
    const [got, want] = sparseVsMasked('f32', [1, 2, 17, 9, 6, 10], 9, [0], 20);
    expectClose(got.data, want.data, 0, TOL);
  });

  it('f16 storage rounds the result like dense attention does', () => {
    const [got, want] = sparseVsMasked('f16', [1, 2, 9, 21, 8, 8], 5, [0, 2, 4], 30);
    expectClose(got.data, want.data, 1e-3, 1e-3);
  });

  it('never reads keys outside the kept tiles (NaN there changes nothing)', () => {
    const [B, H, Nq, Nk, D] = [1, 2, 5, 12, 4];
    const [q, k, v] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('v', 'f32', [B, H, Nk, D])];
    const n = node('sparse_attention', [q, k, v, inp('tiles', 'i32', [2])], { scale: 0.5, tile: 3 });
    const ins = { q: rand('f32', [B, H, Nq, D], 1), k: rand('f32', [B, H, Nk, D], 2), v: rand('f32', [B, H, Nk, D], 3),
      tiles: tilesTensor([1, 3]) };
    const clean = run1(n, ins);
    const poison = (t: Tensor): Tensor => {
      const d = Float32Array.from(t.data as Float32Array);
      // keys 0-2 and 6-8: tiles 0 and 2, both dropped
      for (let bh = 0; bh < B * H; bh++) {
        for (const j of [0, 1, 2, 6, 7, 8]) d.fill(NaN, (bh * Nk + j) * D, (bh * Nk + j + 1) * D);
      }
      return tensor(t.type, d);
    };
    const dirty = run1(n, { ...ins, k: poison(ins.k), v: poison(ins.v) });
    expect(Array.from(dirty.data)).toEqual(Array.from(clean.data));
  });

  it.each<[string, number[], RegExp]>([
    ['unsorted', [3, 1], /strictly ascending, got 3 then 1/],
    ['duplicate', [2, 2], /strictly ascending, got 2 then 2/],
    ['past the last tile', [0, 8], /tile 8 at 1 is outside 0..7 \(29 keys, tile 4\)/],
    ['negative', [-1], /tile -1 at 0 is outside 0..7/],
  ])('rejects a bad tile list: %s', (_name, list, msg) => {
    expect(() => sparseVsMasked('f32', shape, 4, list, 10)).toThrow(msg);
  });

  it('checkTiles rejects an empty list', () => {
    expect(() => checkTiles([], 10, 4)).toThrow(/tiles is empty/);
    expect(() => checkTiles([0, 2], 10, 4)).not.toThrow();
  });

  it('the scheduled form gives each batch element the list of its timestep\'s row, −1 padding ignored', () => {
    const [B, H, Nq, Nk, D] = [3, 2, 6, 29, 8];
    const [q, k, v] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('v', 'f32', [B, H, Nk, D])];
    const rows = [[0, 1, 2, 3, 4, 5, 6, 7], [1, 5, -1, -1, -1, -1, -1, -1], [7, -1, -1, -1, -1, -1, -1, -1]];
    const ins = { q: rand('f32', [B, H, Nq, D], 4), k: rand('f32', [B, H, Nk, D], 5), v: rand('f32', [B, H, Nk, D], 6),
      tiles: tensor(tensorType('i32', [3, 8]), Int32Array.from(rows.flat())),
      // batch 0 in the middle range, batch 1 the noisiest, batch 2 the last
      t: tensor(tensorType('f32', [B]), Float32Array.from([0.5, 0.95, 0.1])) };
    const n = node('sparse_attention', [q, k, v, inp('tiles', 'i32', [3, 8]), inp('t', 'f32', [B])],
      { scale: 1.7, tile: 4, bounds: [0.8, 0.3] });
    const got = run1(n, ins);
    const per = (b: number, list: number[]): Float32Array => {
      const one = node('sparse_attention', [inp('q', 'f32', [1, H, Nq, D]), inp('k', 'f32', [1, H, Nk, D]),
        inp('v', 'f32', [1, H, Nk, D]), inp('tiles', 'i32', [list.length])], { scale: 1.7, tile: 4 });
      const slice = (t: Tensor): Tensor => {
        const m = t.data.length / B;
        return tensor(tensorType('f32', [1, ...t.type.shape.slice(1)]), (t.data as Float32Array).slice(b * m, (b + 1) * m));
      };
      return run1(one, { q: slice(ins.q), k: slice(ins.k), v: slice(ins.v), tiles: tilesTensor(list) }).data as Float32Array;
    };
    const want = Float32Array.from([...per(0, [1, 5]), ...per(1, rows[0]!), ...per(2, [7])]);
    expectClose(got.data, want, 0, 0);
    expect(Math.max(...Array.from(per(0, rows[0]!), (x, i) => Math.abs(x - got.data[i]!)))).toBeGreaterThan(0.05);
  });

  it('rowTiles rejects −1 anywhere but trailing padding; a row of padding only is the empty list', () => {
    expect(Array.from(rowTiles([2, 5, -1, -1], 29, 4))).toEqual([2, 5]);
    expect(() => rowTiles([2, -1, 5, -1], 29, 4)).toThrow(/−1 only as trailing padding/);
    expect(Array.from(rowTiles([-1, -1], 29, 4))).toEqual([]);
  });

  it('a scheduled row of padding only (a range that keeps nothing) gives 0, the other rows attend as before', () => {
    const [B, H, Nq, Nk, D] = [2, 2, 5, 13, 4];
    const [q, k, v] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('v', 'f32', [B, H, Nk, D])];
    const ins = { q: rand('f32', [B, H, Nq, D], 7), k: rand('f32', [B, H, Nk, D], 8), v: rand('f32', [B, H, Nk, D], 9),
      tiles: tensor(tensorType('i32', [2, 4]), Int32Array.from([0, 1, 2, 3, -1, -1, -1, -1])),
      t: tensor(tensorType('f32', [B]), Float32Array.from([0.9, 0.2])) };
    const n = node('sparse_attention', [q, k, v, inp('tiles', 'i32', [2, 4]), inp('t', 'f32', [B])],
      { scale: 0.9, tile: 4, bounds: [0.5] });
    const got = run1(n, ins).data as Float32Array;
    const dense = run1(node('attention', [q, k, v], { scale: 0.9 }), { q: ins.q, k: ins.k, v: ins.v }).data as Float32Array;
    const half = got.length / 2;
    expectClose(got.subarray(0, half), dense.subarray(0, half), 1e-6, 1e-6);
    expect(Array.from(got.subarray(half)).every((x) => x === 0)).toBe(true);
    expect(dense.subarray(half).some((x) => Math.abs(x) > 0.01)).toBe(true);
  });
});

describe('sparse_attention reference per query tile of qtile rows', () => {
  /** Random −1-padded lists per (b, h, query tile of qtile rows) and the dense attention masked to them. */
  function perQueryTile(dims: readonly number[], tile: number, qtile: number, seed: number): [Tensor, Tensor] {
    const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
    const [QT, KT] = [Math.ceil(Nq / qtile), Math.ceil(Nk / tile)];
    const lists = Array.from({ length: B * H * QT }, (_, r) => randomSubset(seed + r, KT));
    const T = Math.max(...lists.map((l) => l.length));
    const [q, k, v] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('v', 'f32', [B, H, Nk, D])];
    const ins = { q: rand('f32', [B, H, Nq, D], seed), k: rand('f32', [B, H, Nk, D], seed + 1),
      v: rand('f32', [B, H, Nk, D], seed + 2),
      tiles: tensor(tensorType('i32', [B, H, QT, T]),
        Int32Array.from(lists.flatMap((l) => [...l, ...new Array<number>(T - l.length).fill(-1)]))) };
    const n = node('sparse_attention', [q, k, v, inp('tiles', 'i32', [B, H, QT, T])], { scale: 1.7, tile, qtile });
    const mask = new Float32Array(B * H * Nq * Nk).fill(-Infinity);
    for (let bh = 0; bh < B * H; bh++) {
      for (let i = 0; i < Nq; i++) {
        const row = (bh * Nq + i) * Nk;
        const list = lists[bh * QT + Math.floor(i / qtile)]!;
        for (const t of list) mask.fill(0, row + t * tile, row + Math.min((t + 1) * tile, Nk));
      }
    }
    const dense = node('attention', [q, k, v, inp('m', 'f32', [B, H, Nq, Nk])], { scale: 1.7 });
    const { tiles: _tiles, ...qkv } = ins;
    return [run1(n, ins), run1(dense, { ...qkv, m: tensor(tensorType('f32', [B, H, Nq, Nk]), mask) })];
  }

  it.each([
    ['qtile = 2·tile', [2, 2, 19, 29, 8], 4, 8],
    ['tile 16, qtile 40, Nq 100', [1, 2, 100, 90, 8], 16, 40],
    ['qtile 13 < tile (row blocks clipped at query-tile ends)', [1, 2, 30, 40, 4], 16, 13],
  ] as const)('equals dense attention with a −∞ mask off each query tile\'s list: %s', (_name, dims, tile, qtile) => {
    const [got, want] = perQueryTile(dims, tile, qtile, 90);
    expect(Array.from(got.data).some((x) => Math.abs(x) > 1e-2)).toBe(true);
    expectClose(got.data, want.data, 0, TOL);
  });
});
