import { describe, expect, it } from 'vitest';
import { node, tensorType } from '../../ir/index.ts';
import { poolKeyTiles } from '../../passes/prune-tokens.ts';
import { pickTiles } from '../../runtime/reference-tile-select.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { expectClose, inp, rand, run1 } from './reference-helpers.ts';

interface Sel {
  readonly tile: number;
  readonly keep: number;
  readonly keepFirst: number;
  readonly scale: number;
  /** query rows per query tile (default tile) */
  readonly qtile?: number;
}

/** Brute force: means by definition, then the count − forced best by repeated argmax (first index wins ties). */
export function bruteSelect(q: Tensor, k: Tensor, a: Sel): number[][] {
  const [B, H, Nq, D] = q.type.shape as [number, number, number, number];
  const Nk = k.type.shape[2]!;
  const qtile = a.qtile ?? a.tile;
  const KT = Math.ceil(Nk / a.tile);
  const forced = Math.ceil(Math.min(a.keepFirst, Nk) / a.tile);
  const count = Math.max(Math.ceil(Math.round(a.keep * KT * 1e9) / 1e9), forced);
  const mean = (x: Tensor, n: number, bh: number, t: number, size: number): number[] => {
    const rows = Array.from({ length: Math.min(size, n - t * size) }, (_, r) => t * size + r);
    return Array.from({ length: D }, (_, c) => rows.reduce((s, r) => s + x.data[(bh * n + r) * D + c]!, 0) / rows.length);
  };
  const out: number[][] = [];
  for (let bh = 0; bh < B * H; bh++) {
    for (let qt = 0; qt < Math.ceil(Nq / qtile); qt++) {
      const qbar = mean(q, Nq, bh, qt, qtile);
      const score = Array.from({ length: KT },
        (_, j) => a.scale * mean(k, Nk, bh, j, a.tile).reduce((s, x, c) => s + x * qbar[c]!, 0));
      const kept = Array.from({ length: forced }, (_, i) => i);
      while (kept.length < count) {
        let best = -1;
        for (let j = forced; j < KT; j++) if (!kept.includes(j) && (best < 0 || score[j]! > score[best]!)) best = j;
        kept.push(best);
      }
      out.push(kept.sort((x, y) => x - y));
    }
  }
  return out;
}

/** tile_select on random q, k of [B, H, Nq, Nk, D]: [the reference's rows, the brute-force rows]. */
function selectCase(dims: readonly number[], a: Sel, seed: number, kData?: Tensor): [number[][], number[][]] {
  const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
  const q = rand('f32', [B, H, Nq, D], seed);
  const k = kData ?? rand('f32', [B, H, Nk, D], seed + 1);
  const n = node('tile_select', [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D])], { ...a });
  const got = run1(n, { q, k });
  const T = n.type.shape[3]!;
  const rows = Array.from({ length: got.data.length / T }, (_, r) => Array.from(got.data.subarray(r * T, (r + 1) * T)));
  return [rows, bruteSelect(q, k, a)];
}

describe('tile_select reference', () => {
  it.each([
    ['tile 4, partial last query and key tiles', [2, 2, 11, 29, 8], { tile: 4, keep: 0.5, keepFirst: 0, scale: 0.7 }],
    ['keepFirst 6 forces tiles 0 and 1', [1, 3, 16, 40, 5], { tile: 4, keep: 0.3, keepFirst: 6, scale: 1 }],
    ['negative scale prefers the lowest q̄·k̄', [1, 2, 9, 30, 4], { tile: 3, keep: 0.4, keepFirst: 0, scale: -0.5 }],
    ['keep 1 lists every tile', [1, 1, 7, 13, 6], { tile: 5, keep: 1, keepFirst: 0, scale: 1 }],
    ['one tile of many', [2, 1, 20, 64, 16], { tile: 8, keep: 0.1, keepFirst: 0, scale: 0.25 }],
    ['qtile = 2·tile, partial last query tile', [2, 2, 19, 29, 8],
      { tile: 4, qtile: 8, keep: 0.5, keepFirst: 5, scale: 0.7 }],
    ['qtile 40 over Nq 100 (not dividing, not a multiple of 16)', [1, 2, 100, 90, 8],
      { tile: 16, qtile: 40, keep: 0.4, keepFirst: 0, scale: 0.5 }],
    ['qtile < tile', [1, 1, 13, 40, 6], { tile: 8, qtile: 3, keep: 0.5, keepFirst: 0, scale: 1 }],
  ] as const)('equals the brute-force selection: %s', (_name, dims, a) => {
    for (const seed of [1, 2, 3]) {
      const [got, want] = selectCase(dims, a, 100 * seed);
      expect(got).toEqual(want);
    }
  });

  it('breaks ties toward the lower tile: identical key tiles score identically', () => {
    // every key tile of 4 keys is the same block, so all scores tie and the lowest tiles win
    const base = rand('f32', [1, 2, 4, 8], 7);
    const k = tensor(tensorType('f32', [1, 2, 24, 8]), Float32Array.from({ length: 2 * 24 * 8 }, (_, i) => {
      const [bh, r, c] = [Math.floor(i / (24 * 8)), Math.floor(i / 8) % 24, i % 8];
      return base.data[(bh * 4 + (r % 4)) * 8 + c]!;
    }));
    const [got, want] = selectCase([1, 2, 9, 24, 8], { tile: 4, keep: 0.5, keepFirst: 0, scale: 1 }, 8, k);
    expect(got).toEqual(want);
    expect(got.every((r) => r.join() === '0,1,2')).toBe(true);
    expect(pickTiles([3, 1, 3, 3, 0], 1, 3)).toEqual([0, 2, 3]);
  });

  it('ranks a NaN-scored tile lowest and still keeps exactly T tiles', () => {
    const k = rand('f32', [1, 1, 24, 8], 31);
    const poisoned = Float32Array.from(k.data as Float32Array);
    poisoned.fill(NaN, 4 * 8, 8 * 8); // key tile 1 of 6
    const [got] = selectCase([1, 1, 8, 24, 8], { tile: 4, keep: 0.5, keepFirst: 0, scale: 1 }, 30,
      tensor(k.type, poisoned));
    for (const row of got) {
      expect(row).toHaveLength(3);
      expect(row).not.toContain(1);
    }
  });

  it('qtile pools the query tiles it names: QT = ceil(Nq/qtile), and qtile = tile changes nothing', () => {
    const a = { tile: 16, keep: 0.4, keepFirst: 0, scale: 0.5 };
    const [wide] = selectCase([1, 2, 100, 90, 8], { ...a, qtile: 40 }, 61);
    expect(wide).toHaveLength(2 * 3);
    const [plain] = selectCase([1, 2, 100, 90, 8], a, 61);
    const [same] = selectCase([1, 2, 100, 90, 8], { ...a, qtile: 16 }, 61);
    expect(same).toEqual(plain);
    expect(plain).toHaveLength(2 * 7);
  });

  it('selects per head and per query tile (the lists differ)', () => {
    const [got] = selectCase([1, 2, 32, 64, 8], { tile: 8, keep: 0.25, keepFirst: 0, scale: 2 }, 21);
    expect(new Set(got.map((r) => r.join())).size).toBeGreaterThan(1);
  });
});

/** Brute force of the scheduled form: each sample's rows are bruteSelect at its range's keep, padded with −1. */
type Scheduled = Omit<Sel, 'keep'> & { readonly keeps: number[]; readonly bounds: number[] };

function bruteScheduled(q: Tensor, k: Tensor, t: ArrayLike<number>, a: Scheduled): number[][] {
  const [B, H, Nq] = q.type.shape as [number, number, number];
  const perBatch = H * Math.ceil(Nq / a.tile);
  const byRange = a.keeps.map((keep) => bruteSelect(q, k, { ...a, keep }));
  const width = Math.max(...byRange.map((rows) => rows[0]!.length));
  return Array.from({ length: B * perBatch }, (_, r) => {
    const b = Math.floor(r / perBatch);
    const range = a.bounds.filter((x) => t[b]! < x).length;
    const row = byRange[range]![r]!;
    return [...row, ...new Array<number>(width - row.length).fill(-1)];
  });
}

describe('scheduled tile_select reference (operand t)', () => {
  const a = { tile: 4, keeps: [1, 0.5, 0.25], bounds: [0.7, 0.3], keepFirst: 5, scale: 0.7 };
  const run = (dims: readonly number[], t: number[], seed: number, attrs: Scheduled = a) => {
    const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
    const q = rand('f32', [B, H, Nq, D], seed);
    const k = rand('f32', [B, H, Nk, D], seed + 1);
    const tt = tensor(tensorType('f32', [B]), Float32Array.from(t));
    const n = node('tile_select', [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('t', 'f32', [B])],
      { ...attrs });
    const got = run1(n, { q, k, t: tt });
    const T = n.type.shape[3]!;
    const rows = Array.from({ length: got.data.length / T }, (_, r) => Array.from(got.data.subarray(r * T, (r + 1) * T)));
    return { rows, want: bruteScheduled(q, k, tt.data, attrs), T };
  };

  it('keeps each sample\'s range budget, ascending, then −1 padding (samples in all three ranges)', () => {
    for (const seed of [1, 2, 3]) {
      // Nk 29 in tiles of 4: KT 8, counts 8 / 4 / 2 (keepFirst 5 forces 2)
      const { rows, want, T } = run([4, 2, 11, 29, 8], [0.9, 0.5, 0.1, 0.7], 100 * seed);
      expect(T).toBe(8);
      expect(rows).toEqual(want);
      const perBatch = 2 * 3;
      const kept = (b: number): number => rows[b * perBatch]!.filter((x) => x >= 0).length;
      // t = f32(0.7) lies just below the bound 0.7: the middle range
      expect([0, 1, 2, 3].map(kept)).toEqual([8, 4, 2, 4]);
      expect(rows[2 * perBatch]!.slice(2)).toEqual([-1, -1, -1, -1, -1, -1]);
    }
  });

  it('sizes T\' by the largest range, whichever position it holds', () => {
    const attrs = { ...a, keeps: [0.25, 0.75], bounds: [0.5], keepFirst: 0 };
    const { rows, want, T } = run([2, 1, 8, 40, 6], [0.8, 0.2], 7, attrs);
    expect(T).toBe(8);
    expect(rows).toEqual(want);
    expect(rows[0]!.filter((x) => x >= 0)).toHaveLength(3);
    expect(rows[2]!.filter((x) => x >= 0)).toHaveLength(8);
  });

  it('feeds the per-query-tile sparse_attention, which skips the padding', () => {
    const [B, H, Nq, Nk, D, tile] = [2, 2, 9, 21, 8, 4];
    const [qn, kn, vn, tn] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('v', 'f32', [B, H, Nk, D]),
      inp('t', 'f32', [B])];
    const ins = { q: rand('f32', [B, H, Nq, D], 41), k: rand('f32', [B, H, Nk, D], 42), v: rand('f32', [B, H, Nk, D], 43),
      t: tensor(tensorType('f32', [B]), Float32Array.from([0.9, 0.1])) };
    const sel = node('tile_select', [qn, kn, tn], { tile, keeps: [1, 0.4], bounds: [0.5], keepFirst: 0, scale: 1 });
    const got = run1(node('sparse_attention', [qn, kn, vn, sel], { scale: 0.5, tile }), ins);
    const dense = run1(node('attention', [qn, kn, vn], { scale: 0.5 }), { q: ins.q, k: ins.k, v: ins.v });
    const half = got.data.length / 2;
    // sample 0 (t = 0.9) keeps every tile: dense up to summation order; sample 1 is pruned
    expectClose(got.data.subarray(0, half), dense.data.subarray(0, half), 1e-12, 1e-9);
    expect(Math.max(...Array.from(got.data.subarray(half), (x, i) => Math.abs(x - dense.data[half + i]!)))).toBeGreaterThan(1e-3);
  });
});

describe('sparse_attention(q, k, v, tile_select(q, k))', () => {
  it('equals dense attention with a −∞ mask off each query tile\'s selected tiles', () => {
    expectMaskedAttention([1, 2, 13, 27, 8, 4], 31);
  });
});

/**
 * sparse_attention(q, k, v, tile_select(q, k)) with keep 0.4, keepFirst 3 equals dense attention under a −∞ mask off
 * each query tile's brute-force selection (query tiles of qtile rows when given, else tile), and differs from dense.
 */
function expectMaskedAttention(dims: readonly number[], seed: number, qtile?: number): void {
  const [B, H, Nq, Nk, D, tile] = dims as [number, number, number, number, number, number];
  const [qn, kn, vn] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('v', 'f32', [B, H, Nk, D])];
  const ins = {
    q: rand('f32', [B, H, Nq, D], seed), k: rand('f32', [B, H, Nk, D], seed + 1), v: rand('f32', [B, H, Nk, D], seed + 2),
  };
  const qt = qtile === undefined ? {} : { qtile };
  const a = { tile, ...qt, keep: 0.4, keepFirst: 3, scale: 1.5 };
  const sel = node('tile_select', [qn, kn], a);
  const got = run1(node('sparse_attention', [qn, kn, vn, sel], { scale: 1.5, tile, ...qt }), ins);
  const rows = bruteSelect(ins.q, ins.k, a);
  const Q = qtile ?? tile;
  const QT = Math.ceil(Nq / Q);
  expect(rows).toHaveLength(B * H * QT);
  const mask = new Float32Array(B * H * Nq * Nk).fill(-Infinity);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < Nq; i++) {
      for (const t of rows[bh * QT + Math.floor(i / Q)]!) {
        mask.fill(0, (bh * Nq + i) * Nk + t * tile, (bh * Nq + i) * Nk + Math.min((t + 1) * tile, Nk));
      }
    }
  }
  const m = tensor(tensorType('f32', [B, H, Nq, Nk]), mask);
  const want = run1(node('attention', [qn, kn, vn, inp('m', 'f32', [B, H, Nq, Nk])], { scale: 1.5 }), { ...ins, m });
  expectClose(got.data, want.data, 0, 1e-6);
  const dense = run1(node('attention', [qn, kn, vn], { scale: 1.5 }), ins);
  expect(Math.max(...Array.from(got.data, (x, i) => Math.abs(x - dense.data[i]!)))).toBeGreaterThan(1e-3);
}

describe('sparse_attention{qtile}(q, k, v, tile_select{qtile}(q, k))', () => {
  it.each([
    ['qtile = 2·tile', [1, 2, 21, 27, 8, 4], 8],
    ['tile 16, qtile 40, Nq 100', [1, 2, 100, 90, 8, 16], 40],
  ] as const)('equals dense attention with a −∞ mask off each query tile\'s selected tiles: %s', (_name, dims, qtile) => {
    expectMaskedAttention(dims, 71, qtile);
  });
});

describe('pooled tile_select reference (attribute keys, operand k̄)', () => {
  /** Unpooled tile_select(q, k) and pooled tile_select{keys}(q, poolKeyTiles(k)) of one case, both on the reference. */
  function both(dims: readonly number[], a: Sel, seed: number, t?: number[]): [Tensor, Tensor] {
    const [B, H, Nq, Nk, D] = dims as [number, number, number, number, number];
    const ins = { q: rand('f32', [B, H, Nq, D], seed), k: rand('f32', [B, H, Nk, D], seed + 1),
      ...(t ? { t: tensor(tensorType('f32', [B]), Float32Array.from(t)) } : {}) };
    const [q, k] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D])];
    const tn = t ? [inp('t', 'f32', [B])] : [];
    const { keep, ...rest } = a;
    const attrs = t ? { ...rest, keeps: [keep, 1], bounds: [0.5] } : { ...a };
    const plain = node('tile_select', [q, k, ...tn], attrs);
    const pooled = node('tile_select', [q, poolKeyTiles(k, a.tile), ...tn], { ...attrs, keys: Nk });
    return [run1(pooled, ins), run1(plain, ins)];
  }

  it.each([
    ['whole tiles only (Nk 64, tile 8)', [2, 2, 20, 64, 8], { tile: 8, keep: 0.4, keepFirst: 0, scale: 0.5 }],
    ['a ragged last tile (Nk 200, tile 64)', [1, 2, 130, 200, 16], { tile: 64, keep: 0.5, keepFirst: 0, scale: 0.25 }],
    ['ragged, keepFirst 6, negative scale', [1, 3, 16, 41, 5], { tile: 4, keep: 0.3, keepFirst: 6, scale: -1 }],
    ['one partial tile (Nk < tile)', [1, 1, 9, 3, 4], { tile: 4, keep: 1, keepFirst: 0, scale: 1 }],
  ] as const)('lists the unpooled form\'s tiles: %s', (_name, dims, a) => {
    for (const seed of [1, 2, 3]) {
      const [got, want] = both(dims, a, 50 * seed);
      expect(got.type).toEqual(want.type);
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
    }
    // the scheduled form: sample 0 in the pruned range (t < 0.5 keeps `keep`), sample 1 in the dense one
    const [got, want] = both([2, ...dims.slice(1)], a, 7, [0.2, 0.8]);
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
  });

  it('reads k̄ as the tile means: hand-made k̄ picks the tiles it favours', () => {
    // Nk 10 in tiles of 4 (KT 3); q̄ = 1 in every column; k̄ rows score 1, 3, 2 → keep 0.5 keeps tiles 1 and 2
    const q = tensor(tensorType('f32', [1, 1, 4, 2]), new Float32Array(8).fill(1));
    const kbar = tensor(tensorType('f32', [1, 1, 3, 2]), Float32Array.of(0.5, 0.5, 1, 2, 1.5, 0.5));
    const n = node('tile_select', [inp('q', 'f32', [1, 1, 4, 2]), inp('kbar', 'f32', [1, 1, 3, 2])],
      { tile: 4, keep: 0.5, keepFirst: 0, scale: 1, keys: 10 });
    expect(Array.from(run1(n, { q, kbar }).data)).toEqual([1, 2]);
  });
});
