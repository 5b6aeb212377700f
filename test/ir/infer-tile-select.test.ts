import { describe, expect, it } from 'vitest';
import { graph, IRError, node, parse, print, tensorType, verify, type DType, type Node } from '../../ir/index.ts';
import { f32Bound, forcedTiles, rangeTiles, selectedTiles, tileSelectAttrs } from '../../ir/infer-tile-select.ts';

const inp = (name: string, d: DType, ...shape: number[]): Node => node('input', [], { name }, tensorType(d, shape));
const q = inp('q', 'f32', 2, 3, 10, 8);
const k = inp('k', 'f32', 2, 3, 20, 8);
const v = inp('v', 'f32', 2, 3, 20, 6);
const t = inp('t', 'f32', 2);

describe('tile_select type rule', () => {
  it('gives i32[B, H, ceil(Nq/tile), T\'] with T\' = max(ceil(keep·KT), forced tiles)', () => {
    // Nq 10, Nk 20 in tiles of 4: QT 3, KT 5
    expect(node('tile_select', [q, k], { tile: 4, keep: 0.5, keepFirst: 0, scale: 0.3 }).type)
      .toEqual({ dtype: 'i32', shape: [2, 3, 3, 3] });
    // keepFirst 13 covers tiles 0..3: four forced tiles outweigh ceil(0.2·5) = 1
    expect(node('tile_select', [q, k], { tile: 4, keep: 0.2, keepFirst: 13, scale: 1 }).type.shape).toEqual([2, 3, 3, 4]);
    expect(forcedTiles(20, 4, 13)).toBe(4);
    expect(forcedTiles(20, 4, 99)).toBe(5);
    // 0.3 · 10 rounds to 3 tiles, not 4
    expect(selectedTiles(40, { tile: 4, keep: 0.3, keepFirst: 0, scale: 1 })).toBe(3);
    expect(selectedTiles(20, { tile: 4, keep: 1, keepFirst: 0, scale: 1 })).toBe(5);
  });

  it.each([
    ['one operand', [q], { tile: 4, keep: 0.5, scale: 1 }, /expects 2 operands/],
    ['keep 0', [q, k], { tile: 4, keep: 0, scale: 1 }, /keep must be in \(0, 1\], got 0/],
    ['keep above 1', [q, k], { tile: 4, keep: 1.5, scale: 1 }, /keep must be in \(0, 1\]/],
    ['tile 0', [q, k], { tile: 0, keep: 0.5, scale: 1 }, /tile must be an integer ≥ 1, got 0/],
    ['negative keepFirst', [q, k], { tile: 4, keep: 0.5, keepFirst: -1, scale: 1 }, /keepFirst must be an integer ≥ 0/],
    ['no scale', [q, k], { tile: 4, keep: 0.5 }, /scale must be a number/],
    ['head dims differ', [q, inp('k', 'f32', 2, 3, 20, 4)], { tile: 4, keep: 0.5, scale: 1 }, /agree in batch, heads and head dim/],
    ['integer q', [inp('q', 'i32', 2, 3, 10, 8), k], { tile: 4, keep: 0.5, scale: 1 }, /one float dtype/],
    ['rank 3', [inp('q', 'f32', 3, 10, 8), k], { tile: 4, keep: 0.5, scale: 1 }, /\[B, H, N, D\]/],
  ] as const)('rejects %s', (_name, src, attrs, msg) => {
    expect(() => node('tile_select', src, attrs)).toThrow(IRError);
    expect(() => node('tile_select', src, attrs)).toThrow(msg);
  });

  it('feeds the per-query-tile sparse_attention and round-trips through print/parse', () => {
    const sel = node('tile_select', [q, k], { tile: 4, keep: 0.5, keepFirst: 2, scale: 0.25 });
    const g = graph('s', [q, k, v], [node('sparse_attention', [q, k, v, sel], { scale: 0.25, tile: 4 })]);
    verify(g);
    const text = print(g);
    expect(text).toContain('i32[2,3,3,3] = tile_select{keep=0.5, keepFirst=2, scale=0.25, tile=4}(%q, %k)');
    expect(print(parse(text))).toBe(text);
  });
});

describe('scheduled tile_select type rule (operand t)', () => {
  const sched = { tile: 4, keeps: [1, 0.5, 0.2], bounds: [0.7, 0.3], keepFirst: 0, scale: 1 };

  it('gives T\' = the largest range count, and one count per range', () => {
    // KT 5: counts 5 / 3 / 1
    expect(node('tile_select', [q, k, t], sched).type).toEqual({ dtype: 'i32', shape: [2, 3, 3, 5] });
    const a = tileSelectAttrs(sched);
    expect(a.keep).toBe(1);
    expect(rangeTiles(20, a)).toEqual([5, 3, 1]);
    expect(node('tile_select', [q, k, t], { ...sched, keeps: [0.2, 0.5], bounds: [0.5] }).type.shape).toEqual([2, 3, 3, 3]);
    // keepFirst 13 forces 4 tiles in every range
    expect(rangeTiles(20, tileSelectAttrs({ ...sched, keepFirst: 13 }))).toEqual([5, 4, 4]);
    expect(rangeTiles(20, tileSelectAttrs({ tile: 4, keep: 0.5, scale: 1 }))).toEqual([3]);
  });

  it.each([
    ['t without keeps', [q, k, t], { tile: 4, keep: 0.5, scale: 1 }, /operand t needs the scheduled attributes keeps and bounds/],
    ['keeps without t', [q, k], sched, /keeps needs the timestep operand t/],
    ['keep and keeps', [q, k, t], { ...sched, keep: 0.5 }, /keep or keeps .* not both/],
    ['bounds without keeps', [q, k], { tile: 4, keep: 0.5, bounds: [0.5], scale: 1 }, /bounds needs keeps/],
    ['an empty keeps', [q, k, t], { ...sched, keeps: [], bounds: [] }, /keeps must be fractions in \[0, 1\], one of them > 0/],
    ['only keeps of 0', [q, k, t], { ...sched, keeps: [0, 0, 0] }, /one of them > 0, got \[0,0,0\]/],
    ['a keep over 1 in keeps', [q, k, t], { ...sched, keeps: [1, 1.5, 0.5] }, /keeps must be .* got \[1,1.5,0.5\]/],
    ['too few bounds', [q, k, t], { ...sched, bounds: [0.5] }, /tile_select: 3 keeps need 2 bounds, got 1/],
    ['ascending bounds', [q, k, t], { ...sched, bounds: [0.3, 0.7] }, /tile_select: bounds must be strictly descending/],
    ['a non-finite bound', [q, k, t], { ...sched, bounds: [Infinity, 0.3] }, /tile_select: attribute bounds must be a list of numbers/],
    ['t of the wrong batch', [q, k, inp('t', 'f32', 3)], sched, /t must be a float \[2\]/],
    ['an integer t', [q, k, inp('t', 'i32', 2)], sched, /t must be a float \[2\]/],
    ['four operands', [q, k, t, t], sched, /expects 2 operands \(q, k\) or 3 \(q, k, t\), got 4/],
  ] as const)('rejects %s', (_name, src, attrs, msg) => {
    expect(() => node('tile_select', src, attrs)).toThrow(IRError);
    expect(() => node('tile_select', src, attrs)).toThrow(msg);
  });

  it('feeds the per-query-tile sparse_attention and round-trips through print/parse', () => {
    const sel = node('tile_select', [q, k, t], { ...sched, keepFirst: 2, scale: 0.25 });
    const g = graph('s', [q, k, v, t], [node('sparse_attention', [q, k, v, sel], { scale: 0.25, tile: 4 })]);
    verify(g);
    const text = print(g);
    expect(text).toContain('i32[2,3,3,5] = tile_select{bounds=[0.7,0.3], keepFirst=2, keeps=[1,0.5,0.2], scale=0.25, tile=4}(%q, %k, %t)');
    expect(print(parse(text))).toBe(text);
  });

  it('rounds a bound up to the least f32 at or above it: x < f32Bound(b) ⇔ x < b for f32 x', () => {
    for (const b of [0.7, 0.3, 0.5, -0.7, 1e-50, -1e-50, 0.516_666_666_666_666_7]) {
      const up = f32Bound(b);
      expect(Math.fround(up)).toBe(up);
      expect(up).toBeGreaterThanOrEqual(b);
      // the f32 one ulp below `up` (toward −∞) lies below b
      const bits = new Int32Array(Float32Array.of(up).buffer);
      bits[0] = bits[0]! + (up > 0 ? -1 : 1);
      expect(new Float32Array(bits.buffer)[0]!).toBeLessThan(b);
    }
    expect(f32Bound(0.5)).toBe(0.5);
    expect(Math.fround(0.7) < 0.7 && !(Math.fround(0.7) < Math.fround(0.7))).toBe(true);
    expect(Math.fround(0.7) < f32Bound(0.7)).toBe(true);
  });
});

describe('pooled tile_select type rule (attribute keys, operand k̄)', () => {
  // keys 20 in tiles of 4 → k̄ holds 5 tile means; keys 18 → 5 too (a partial last tile)
  const kbar = inp('kbar', 'f32', 2, 3, 5, 8);
  const pooled = { tile: 4, keep: 0.5, keepFirst: 0, scale: 0.3, keys: 20 };

  it('takes KT, forced tiles and T\' from keys, as the unpooled form does from k', () => {
    const { keys: _keys, ...plain } = pooled;
    expect(node('tile_select', [q, kbar], pooled).type).toEqual(node('tile_select', [q, k], plain).type);
    expect(node('tile_select', [q, kbar], { ...pooled, keys: 18, keepFirst: 13 }).type.shape).toEqual([2, 3, 3, 4]);
    const sched = { tile: 4, keeps: [1, 0.5, 0.2], bounds: [0.7, 0.3], keepFirst: 0, scale: 1, keys: 20 };
    expect(node('tile_select', [q, kbar, t], sched).type).toEqual({ dtype: 'i32', shape: [2, 3, 3, 5] });
    expect(tileSelectAttrs(sched).keys).toBe(20);
    expect(tileSelectAttrs({ tile: 4, keep: 0.5, scale: 1 })).not.toHaveProperty('keys');
  });

  it.each([
    ['k̄ holding keys, not tile means', [q, k], pooled, /pooled k̄ must hold ceil\(keys\/tile\) = ceil\(20\/4\) = 5 tile means, got 20/],
    ['one tile mean too many', [q, inp('kbar', 'f32', 2, 3, 6, 8)], pooled, /= 5 tile means, got 6/],
    ['keys 0', [q, kbar], { ...pooled, keys: 0 }, /keys must be an integer ≥ 1, got 0/],
    ['fractional keys', [q, kbar], { ...pooled, keys: 19.5 }, /keys must be an integer ≥ 1, got 19.5/],
    ['head dims differ', [q, inp('kbar', 'f32', 2, 3, 5, 4)], pooled, /agree in batch, heads and head dim/],
  ] as const)('rejects %s', (_name, src, attrs, msg) => {
    expect(() => node('tile_select', src, attrs)).toThrow(IRError);
    expect(() => node('tile_select', src, attrs)).toThrow(msg);
  });

  it('round-trips through print/parse', () => {
    const g = graph('s', [q, kbar], [node('tile_select', [q, kbar], pooled)]);
    verify(g);
    const text = print(g);
    expect(text).toContain('tile_select{keep=0.5, keepFirst=0, keys=20, scale=0.3, tile=4}(%q, %kbar)');
    expect(print(parse(text))).toBe(text);
  });
});

describe('tile_select with query tiles of qtile rows', () => {
  it('gives QT = ceil(Nq/qtile) in every form; key tiles, KT and T\' stay by tile', () => {
    // Nq 10, Nk 20 in key tiles of 4 (KT 5, T' 3): qtile 8 → QT 2, qtile 3 → QT 4
    expect(node('tile_select', [q, k], { tile: 4, qtile: 8, keep: 0.5, scale: 0.3 }).type)
      .toEqual({ dtype: 'i32', shape: [2, 3, 2, 3] });
    expect(node('tile_select', [q, k], { tile: 4, qtile: 3, keep: 0.5, scale: 0.3 }).type.shape).toEqual([2, 3, 4, 3]);
    const sched = { tile: 4, qtile: 8, keeps: [1, 0.5], bounds: [0.5], keepFirst: 0, scale: 1 };
    expect(node('tile_select', [q, k, t], sched).type.shape).toEqual([2, 3, 2, 5]);
    const kbar = inp('kbar', 'f32', 2, 3, 5, 8);
    expect(node('tile_select', [q, kbar], { tile: 4, qtile: 8, keep: 0.5, scale: 1, keys: 20 }).type.shape)
      .toEqual([2, 3, 2, 3]);
    expect(tileSelectAttrs({ tile: 4, qtile: 8, keep: 0.5, scale: 1 }).qtile).toBe(8);
    expect(tileSelectAttrs({ tile: 4, keep: 0.5, scale: 1 })).not.toHaveProperty('qtile');
  });

  it.each([
    ['qtile 0', { tile: 4, qtile: 0, keep: 0.5, scale: 1 }, /tile_select: attribute qtile must be an integer ≥ 1, got 0$/],
    ['a fractional qtile', { tile: 4, qtile: 2.5, keep: 0.5, scale: 1 }, /qtile must be an integer ≥ 1, got 2.5/],
    ['a string qtile', { tile: 4, qtile: '8', keep: 0.5, scale: 1 }, /qtile must be an integer ≥ 1, got "8"/],
  ] as const)('rejects %s', (_name, attrs, msg) => {
    expect(() => node('tile_select', [q, k], attrs)).toThrow(IRError);
    expect(() => node('tile_select', [q, k], attrs)).toThrow(msg);
  });

  it('feeds the per-query-tile sparse_attention of the same qtile and round-trips through print/parse', () => {
    const sel = node('tile_select', [q, k], { tile: 4, qtile: 8, keep: 0.5, keepFirst: 2, scale: 0.25 });
    const g = graph('s', [q, k, v], [node('sparse_attention', [q, k, v, sel], { scale: 0.25, tile: 4, qtile: 8 })]);
    verify(g);
    const text = print(g);
    expect(text).toContain('i32[2,3,2,3] = tile_select{keep=0.5, keepFirst=2, qtile=8, scale=0.25, tile=4}(%q, %k)');
    expect(text).toContain('sparse_attention{qtile=8, scale=0.25, tile=4}');
    expect(print(parse(text))).toBe(text);
    // without qtile the consumer expects ceil(10/4) = 3 query tiles, not the 2 listed
    expect(() => node('sparse_attention', [q, k, v, sel], { scale: 0.25, tile: 4 }))
      .toThrow(/per-query-tile tiles must be i32\[2, 3, 3, T\]/);
  });
});
