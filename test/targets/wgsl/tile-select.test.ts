import { describe, expect, it } from 'vitest';
import { node, type Node } from '../../../ir/node.ts';
import type { Shape } from '../../../ir/types.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { lowerNode } from '../../../targets/wgsl/select.ts';
import { expectClose, hasGpu, input, randomTensor, rng, runBoth, TOL_ACC } from './harness.ts';

interface Case {
  readonly q: Shape;
  readonly nk: number;
  readonly tile: number;
  readonly keep: number;
  readonly keepFirst?: number;
  readonly scale?: number;
  /** query rows per query tile (absent: the attribute is left out, i.e. tile) */
  readonly qtile?: number;
}

function selectCase(c: Case, seed: number) {
  const [B, H, , D] = c.q as [number, number, number, number];
  const r = rng(seed);
  const inputs: Record<string, Tensor> = { q: randomTensor(r, 'f32', c.q), k: randomTensor(r, 'f32', [B, H, c.nk, D]) };
  const [q, k] = [input('q', 'f32', c.q), input('k', 'f32', [B, H, c.nk, D])];
  const attrs = { tile: c.tile, keep: c.keep, keepFirst: c.keepFirst ?? 0, scale: c.scale ?? 1 / Math.sqrt(D),
    ...(c.qtile === undefined ? {} : { qtile: c.qtile }) };
  return { q, k, attrs, inputs, n: node('tile_select', [q, k], attrs) };
}

const CASES: [string, Case][] = [
  ['tile 4, partial last query and key tiles', { q: [2, 2, 11, 8], nk: 29, tile: 4, keep: 0.5 }],
  ['keepFirst 6 forces two tiles', { q: [1, 3, 16, 16], nk: 40, tile: 4, keep: 0.3, keepFirst: 6 }],
  ['negative scale, odd head dim', { q: [1, 2, 9, 5], nk: 30, tile: 3, keep: 0.4, scale: -0.5 }],
  ['more key tiles than a workgroup (KT 150 > 128), tile 2', { q: [1, 1, 6, 4], nk: 300, tile: 2, keep: 0.2 }],
  ['tile 64, one whole query tile, D 64', { q: [1, 2, 64, 64], nk: 512, tile: 64, keep: 0.5 }],
  ['qtile = 2·tile, partial last query tile, keepFirst 5',
    { q: [2, 2, 19, 8], nk: 29, tile: 4, qtile: 8, keep: 0.5, keepFirst: 5 }],
  ['tile 16, qtile 40 over Nq 100', { q: [1, 2, 100, 16], nk: 90, tile: 16, qtile: 40, keep: 0.4 }],
];

describe.skipIf(!hasGpu)('wgsl tile_select vs the reference (exact: integer lists)', () => {
  CASES.forEach(([name, c], i) => {
    it(name, async () => {
      const { n, inputs } = selectCase(c, 700 + i);
      const [got, want, spec] = await runBoth(n, inputs, 'f32');
      expect(spec.name).toBe('tile_select');
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
    });
  });

  it('feeds the per-query-tile sparse_attention: the pair matches the reference', async () => {
    const { q, k, attrs, inputs } = selectCase({ q: [1, 2, 40, 16], nk: 77, tile: 8, keep: 0.4, keepFirst: 3 }, 720);
    const r = rng(721);
    const v = input('v', 'f32', [1, 2, 77, 12]);
    const sel = node('tile_select', [q, k], attrs);
    const [lists] = await runBoth(sel, inputs, 'f32');
    const tiles = input('tiles', 'i32', sel.type.shape);
    const n = node('sparse_attention', [q, k, v, tiles], { scale: 0.5, tile: 8 });
    const [got, want, spec] = await runBoth(n, { ...inputs, v: randomTensor(r, 'f32', [1, 2, 77, 12]), tiles: lists }, 'f32');
    expect(spec.source).toContain('let srow = bh * 5u + q0 / TILE;');
    expectClose(got, want, TOL_ACC);
  });

  it.each([[8, 16, 40], [16, 40, 100]])('tile %i, qtile %i, Nq %i: the pair matches the reference',
    async (tile, qtile, nq) => {
      const c = { q: [1, 2, nq, 16], nk: 77, tile, qtile, keep: 0.4, keepFirst: 3 };
      const { q, k, attrs, inputs } = selectCase(c, 730 + tile);
      const v = input('v', 'f32', [1, 2, 77, 12]);
      const sel = node('tile_select', [q, k], attrs);
      const [lists, wantLists] = await runBoth(sel, inputs, 'f32');
      expect(Array.from(lists.data)).toEqual(Array.from(wantLists.data));
      const tiles = input('tiles', 'i32', sel.type.shape);
      const n = node('sparse_attention', [q, k, v, tiles], { scale: 0.5, tile, qtile });
      const vData = randomTensor(rng(731 + tile), 'f32', [1, 2, 77, 12]);
      const [got, want, spec] = await runBoth(n, { ...inputs, v: vData, tiles: lists }, 'f32');
      expect(spec.source).toContain(`let srow = bh * ${Math.ceil(nq / qtile)}u + q0 / ${qtile}u;`);
      expectClose(got, want, TOL_ACC);
    });
});

/** The scheduled form: random q, k and one timestep per sample, chosen to put the samples in different ranges. */
function scheduledCase(c: Omit<Case, 'keep'> & { keeps: number[]; bounds: number[] }, t: number[], seed: number) {
  const [B, H, , D] = c.q as [number, number, number, number];
  const r = rng(seed);
  const inputs = { q: randomTensor(r, 'f32', c.q), k: randomTensor(r, 'f32', [B, H, c.nk, D]) };
  const [q, k, tn] = [input('q', 'f32', c.q), input('k', 'f32', [B, H, c.nk, D]), input('t', 'f32', [B])];
  const attrs = { tile: c.tile, keeps: c.keeps, bounds: c.bounds, keepFirst: c.keepFirst ?? 0, scale: c.scale ?? 0.5,
    ...(c.qtile === undefined ? {} : { qtile: c.qtile }) };
  return { n: node('tile_select', [q, k, tn], attrs), inputs: { ...inputs, t: tensor(tn.type, Float32Array.from(t)) } };
}

/** Per batch element of a tile_select result: whether its lists are all −1 (its range keeps nothing). */
function emptyBatches(lists: Tensor): boolean[] {
  const B = lists.type.shape[0]!;
  const per = lists.data.length / B;
  const allPadding = (b: number): boolean => Array.from(lists.data.subarray(b * per, (b + 1) * per)).every((x) => x === -1);
  return Array.from({ length: B }, (_, b) => allPadding(b));
}

const SCHEDULED: [string, Parameters<typeof scheduledCase>][] = [
  ['three ranges, 4 samples (t = f32(0.7) just below the bound 0.7), keepFirst 5',
    [{ q: [4, 2, 11, 8], nk: 29, tile: 4, keeps: [1, 0.5, 0.25], bounds: [0.7, 0.3], keepFirst: 5 }, [0.9, 0.7, 0.5, 0.1], 0]],
  ['the small budget first, KT 150 over a workgroup',
    [{ q: [2, 1, 6, 4], nk: 300, tile: 2, keeps: [0.1, 0.6], bounds: [0.5] }, [0.8, 0.2], 0]],
];

// keeps of 0: rows of −1 only, not even the keepFirst tiles; t = f32(0.7) lies below 0.7, in the empty range
const EMPTY_RANGES: [string, Parameters<typeof scheduledCase>, boolean[]][] = [
  ['keeps [1, 0, 0.5], keepFirst 5: samples 1 and 2 keep nothing',
    [{ q: [4, 2, 11, 8], nk: 29, tile: 4, keeps: [1, 0, 0.5], bounds: [0.7, 0.3], keepFirst: 5 }, [0.9, 0.7, 0.5, 0.1],
      0],
    [false, true, true, false]],
  ['keeps [0.5, 0, 1], qtile 8 over key tiles of 4, keepFirst 6',
    [{ q: [3, 2, 19, 8], nk: 29, tile: 4, qtile: 8, keeps: [0.5, 0, 1], bounds: [0.6, 0.2], keepFirst: 6 },
      [0.9, 0.4, 0.1], 0],
    [false, true, false]],
];

describe.skipIf(!hasGpu)('wgsl scheduled tile_select vs the reference (exact, −1 padding included)', () => {
  SCHEDULED.forEach(([name, [c, t]], i) => {
    it(name, async () => {
      const { n, inputs } = scheduledCase(c, t, 740 + i);
      const [got, want, spec] = await runBoth(n, inputs, 'f32');
      expect(spec.key).toContain(`bounds=${c.bounds.join('/')}`);
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
      expect(Array.from(want.data)).toContain(-1);
    });
  });
});

describe.skipIf(!hasGpu)('wgsl scheduled tile_select with ranges that keep nothing (exact)', () => {
  EMPTY_RANGES.forEach(([name, [c, t], empty], i) => {
    it(name, async () => {
      const { n, inputs } = scheduledCase(c, t, 750 + i);
      const [got, want, spec] = await runBoth(n, inputs, 'f32');
      // unguarded, keep − FORCED wraps (u32) and every tile is written, past the row's end, racing the −1 padding
      // and the next rows: lavapipe's write order hides that, hence the check of the source
      expect(spec.source).toContain('if (keep == 0u) {');
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
      expect(emptyBatches(want)).toEqual(empty);
    });
  });

  it('feeds the per-query-tile sparse_attention: rows of 0 where the range keeps nothing', async () => {
    const [c, t] = EMPTY_RANGES[1]![1];
    const { n: sel, inputs } = scheduledCase(c, t, 752);
    const [lists] = await runBoth(sel, inputs, 'f32');
    const [q, k] = sel.src as [Node, Node];
    const v = input('v', 'f32', [3, 2, 29, 12]);
    const tiles = input('tiles', 'i32', sel.type.shape);
    const n = node('sparse_attention', [q, k, v, tiles], { scale: 0.5, tile: 4, qtile: 8 });
    const operands = { q: inputs.q, k: inputs.k, v: randomTensor(rng(753), 'f32', [3, 2, 29, 12]), tiles: lists };
    const [got, want] = await runBoth(n, operands, 'f32');
    const per = got.data.length / 3;
    expect(Array.from(got.data.subarray(per, 2 * per)).every((x) => x === 0)).toBe(true);
    expect(Array.from(got.data.subarray(0, per)).some((x) => x !== 0)).toBe(true);
    expectClose(got, want, TOL_ACC);
  });
});

describe('tile_select kernel description', () => {
  it('keys its pipeline by tile and budget and names the workgroup-memory limit', () => {
    const ctx = { elem: 'f32', caps: DEFAULT_CAPS } as const;
    const a = lowerNode(selectCase({ q: [1, 1, 8, 8], nk: 64, tile: 8, keep: 0.5 }, 1).n, ctx);
    const b = lowerNode(selectCase({ q: [1, 1, 8, 8], nk: 64, tile: 8, keep: 0.25 }, 1).n, ctx);
    expect(a.key).toContain('tile=8');
    expect(a.key).not.toBe(b.key);
    // qtile keys its own pipeline; qtile = tile emits the source and key of no qtile
    const wide = lowerNode(selectCase({ q: [1, 1, 40, 8], nk: 64, tile: 8, qtile: 16, keep: 0.5 }, 1).n, ctx);
    expect(wide.key).toContain('qtile=16');
    expect(wide.source).toContain('let q0 = qt * QTILE; let qn = min(QTILE, NQ - q0);');
    const plain = lowerNode(selectCase({ q: [1, 1, 40, 8], nk: 64, tile: 8, keep: 0.5 }, 1).n, ctx);
    const same = lowerNode(selectCase({ q: [1, 1, 40, 8], nk: 64, tile: 8, qtile: 8, keep: 0.5 }, 1).n, ctx);
    expect([same.source, same.key]).toEqual([plain.source, plain.key]);
    expect(plain.source).not.toContain('QTILE');
    const big = selectCase({ q: [1, 1, 4, 8], nk: 8000, tile: 2, keep: 0.5 }, 1).n;
    expect(() => lowerNode(big, ctx)).toThrow(/tile_select over 4000 key tiles .* workgroup memory/);
  });
});

/** The pooled form: random q and k̄ (the tile means of a random k, as poolKeyTiles gives them) of Nk keys. */
function pooledCase(c: Case & { keeps?: number[]; bounds?: number[] }, seed: number, t?: number[]) {
  const [B, H, , D] = c.q as [number, number, number, number];
  const KT = Math.ceil(c.nk / c.tile);
  const r = rng(seed);
  const [qd, kd] = [randomTensor(r, 'f32', c.q), randomTensor(r, 'f32', [B, H, c.nk, D])];
  const kbar = new Float32Array(B * H * KT * D);
  for (let bh = 0; bh < B * H; bh++) {
    for (let j = 0; j < KT; j++) {
      const rows = Math.min(c.tile, c.nk - j * c.tile);
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let i = 0; i < rows; i++) s += kd.data[(bh * c.nk + j * c.tile + i) * D + d]!;
        kbar[(bh * KT + j) * D + d] = s / rows;
      }
    }
  }
  const [q, kb, tn] = [input('q', 'f32', c.q), input('kbar', 'f32', [B, H, KT, D]), input('t', 'f32', [B])];
  const budget = c.keeps ? { keeps: c.keeps, bounds: c.bounds ?? [] } : { keep: c.keep };
  const attrs = { tile: c.tile, ...budget, keepFirst: c.keepFirst ?? 0, scale: c.scale ?? 1 / Math.sqrt(D), keys: c.nk,
    ...(c.qtile === undefined ? {} : { qtile: c.qtile }) };
  const inputs: Record<string, Tensor> = { q: qd, kbar: tensor(kb.type, kbar),
    ...(t ? { t: tensor(tn.type, Float32Array.from(t)) } : {}) };
  return { n: node('tile_select', t ? [q, kb, tn] : [q, kb], attrs), inputs };
}

const POOLED: [string, Case][] = [
  ['a ragged last tile (N 200, tile 64), D 64', { q: [1, 2, 200, 64], nk: 200, tile: 64, keep: 0.5 }],
  ['tile 4, keepFirst 6, negative scale, odd head dim', { q: [2, 2, 11, 5], nk: 29, tile: 4, keep: 0.3, keepFirst: 6, scale: -0.5 }],
  ['more key tiles than a workgroup (KT 150 > 128), tile 2', { q: [1, 1, 6, 4], nk: 300, tile: 2, keep: 0.2 }],
];

describe.skipIf(!hasGpu)('wgsl pooled tile_select (keys, k̄) vs the reference (exact)', () => {
  POOLED.forEach(([name, c], i) => {
    it(name, async () => {
      const { n, inputs } = pooledCase(c, 760 + i);
      const [got, want, spec] = await runBoth(n, inputs, 'f32');
      expect(spec.key).toContain(`keys=${c.nk}`);
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
    });
  });

  it.each([[undefined], [8]])('scheduled, keeps [1, 0, 0.5], keepFirst 5, qtile %s: the middle range keeps nothing',
    async (qtile) => {
      const c = { q: [4, 2, 19, 16], nk: 29, tile: 4, keep: 1, keeps: [1, 0, 0.5], bounds: [0.7, 0.3], keepFirst: 5,
        ...(qtile === undefined ? {} : { qtile }) };
      const { n, inputs } = pooledCase(c, 775 + (qtile ?? 0), [0.9, 0.7, 0.5, 0.1]);
      const [got, want] = await runBoth(n, inputs, 'f32');
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
      expect(emptyBatches(want)).toEqual([false, true, true, false]);
    });

  it('scheduled: three ranges over 4 samples, −1 padding included', async () => {
    const c = { q: [4, 2, 70, 16], nk: 200, tile: 64, keep: 1, keeps: [1, 0.5, 0.25], bounds: [0.7, 0.3], keepFirst: 5 };
    const { n, inputs } = pooledCase(c, 770, [0.9, 0.7, 0.5, 0.1]);
    const [got, want] = await runBoth(n, inputs, 'f32');
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
    expect(Array.from(want.data)).toContain(-1);
  });
});

describe('pooled tile_select kernel description', () => {
  it('reads one k̄ row per key tile: its bytes drop by the tile size (cogvideox-2b: 278 × 278 tiles of 64, D 64)', () => {
    const ctx = { elem: 'f32', caps: { ...DEFAULT_CAPS, limits: { ...DEFAULT_CAPS.limits, maxComputeWorkgroupStorageSize: 1 << 15 } } } as const;
    const [B, H, N, D, tile] = [1, 30, 17776, 64, 64];
    const [q, k, kbar] = [input('q', 'f32', [B, H, N, D]), input('k', 'f32', [B, H, N, D]), input('kbar', 'f32', [B, H, 278, D])];
    const attrs = { tile, keep: 0.5, keepFirst: 0, scale: 0.125 };
    const plain = lowerNode(node('tile_select', [q, k], attrs), ctx);
    const pooled = lowerNode(node('tile_select', [q, kbar], { ...attrs, keys: N }), ctx);
    const [qBytes, yBytes] = [B * H * N * D * 4, B * H * 278 * 139 * 4];
    expect(plain.bytes).toBe(qBytes + B * H * 278 * N * D * 4 + yBytes);
    expect(pooled.bytes).toBe(qBytes + B * H * 278 * 278 * D * 4 + yBytes);
    expect(pooled.source).not.toContain('NK - j * TILE');
  });
});
