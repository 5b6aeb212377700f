import { describe, expect, it } from 'vitest';
import { graph, IRError, node, parse, print, tensorType, verify, type DType, type Node } from '../../ir/index.ts';
import { forcedTiles, selectedTiles } from '../../ir/infer-tile-select.ts';

const inp = (name: string, d: DType, ...shape: number[]): Node => node('input', [], { name }, tensorType(d, shape));
const q = inp('q', 'f32', 2, 3, 10, 8);
const k = inp('k', 'f32', 2, 3, 20, 8);
const v = inp('v', 'f32', 2, 3, 20, 6);

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
