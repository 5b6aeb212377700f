import { describe, expect, it } from 'vitest';
import { graph, IRError, node, parse, print, tensorType, verify, type DType, type Node } from '../../ir/index.ts';
import { keyTiles, scheduleRow } from '../../ir/infer-sparse-attention.ts';

const inp = (name: string, d: DType, ...shape: number[]): Node => node('input', [], { name }, tensorType(d, shape));
const q = inp('q', 'f32', 2, 3, 10, 8);
const k = inp('k', 'f32', 2, 3, 20, 8);
const v = inp('v', 'f32', 2, 3, 20, 6);
const tiles = (d: DType, ...shape: number[]): Node => inp('tiles', d, ...shape);

describe('sparse_attention type rule', () => {
  it('gives [B, H, Nq, Dv] in the q dtype', () => {
    const n = node('sparse_attention', [q, k, v, tiles('i32', 3)], { scale: 0.3, tile: 8 });
    expect(n.type).toEqual({ dtype: 'f32', shape: [2, 3, 10, 6] });
    expect(keyTiles(20, 8)).toBe(3);
    expect(keyTiles(16, 8)).toBe(2);
  });

  it('accepts the scheduled form: tiles i32[R, T], t f[B], R − 1 descending bounds, and picks rows by t', () => {
    const n = node('sparse_attention', [q, k, v, tiles('i32', 3, 2), inp('t', 'f32', 2)],
      { scale: 0.3, tile: 8, bounds: [0.7, 0.2] });
    expect(n.type).toEqual({ dtype: 'f32', shape: [2, 3, 10, 6] });
    const g = graph('g', [q, k, v, n.src[3]!, n.src[4]!], [n]);
    expect(print(parse(print(g)))).toBe(print(g));
    expect([1, 0.7, 0.69, 0.2, 0.19, 0].map((t) => scheduleRow(t, [0.7, 0.2]))).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it.each([
    ['tiles not i32', [q, k, v, tiles('f32', 2)], { scale: 1, tile: 8 }, /tiles must be i32\[T\]/],
    ['tiles of rank 2', [q, k, v, tiles('i32', 1, 2)], { scale: 1, tile: 8 }, /tiles must be i32\[T\]/],
    ['bounds without t', [q, k, v, tiles('i32', 2)], { scale: 1, tile: 8, bounds: [0.5] }, /bounds needs the scheduled/],
    ['scheduled tiles of rank 1', [q, k, v, tiles('i32', 2), inp('t', 'f32', 2)], { scale: 1, tile: 8, bounds: [] },
      /scheduled tiles must be i32\[R, T\]/],
    ['t of the wrong batch', [q, k, v, tiles('i32', 2, 2), inp('t', 'f32', 3)], { scale: 1, tile: 8, bounds: [0.5] },
      /t must be a float \[2\]/],
    ['one bound short', [q, k, v, tiles('i32', 3, 2), inp('t', 'f32', 2)], { scale: 1, tile: 8, bounds: [0.5] },
      /3 tile rows need 2 bounds, got 1/],
    ['ascending bounds', [q, k, v, tiles('i32', 3, 2), inp('t', 'f32', 2)], { scale: 1, tile: 8, bounds: [0.2, 0.5] },
      /bounds must be strictly descending/],
    ['too many tiles per row', [q, k, v, tiles('i32', 2, 4), inp('t', 'f32', 2)], { scale: 1, tile: 8, bounds: [0.5] },
      /lists 4 tiles, want 1..3/],
    ['more tiles than exist', [q, k, v, tiles('i32', 4)], { scale: 1, tile: 8 }, /lists 4 tiles, want 1..3/],
    ['no tile', [q, k, v, tiles('i32', 0)], { scale: 1, tile: 8 }, /lists 0 tiles/],
    ['tile 0', [q, k, v, tiles('i32', 2)], { scale: 1, tile: 0 }, /tile must be an integer ≥ 1, got 0/],
    ['fractional tile', [q, k, v, tiles('i32', 2)], { scale: 1, tile: 2.5 }, /tile must be an integer ≥ 1/],
    ['no scale', [q, k, v, tiles('i32', 2)], { tile: 8 }, /scale must be a number/],
    ['missing tiles', [q, k, v], { scale: 1, tile: 8 }, /expects 4 operands/],
    ['k/v token counts', [q, k, inp('v', 'f32', 2, 3, 19, 6), tiles('i32', 2)], { scale: 1, tile: 8 }, /token counts/],
    ['head dims', [q, inp('k', 'f32', 2, 3, 20, 4), v, tiles('i32', 2)], { scale: 1, tile: 8 }, /head dims differ/],
    ['integer q', [inp('q', 'i32', 2, 3, 10, 8), k, v, tiles('i32', 2)], { scale: 1, tile: 8 }, /one float dtype/],
  ] as const)('rejects %s', (_name, src, attrs, msg) => {
    expect(() => node('sparse_attention', src, attrs)).toThrow(IRError);
    expect(() => node('sparse_attention', src, attrs)).toThrow(msg);
  });

  it('verify catches a sparse_attention whose tile list no longer fits, printing the node', () => {
    // an explicit type skips inference at construction; verify infers again and finds 3 tiles > ceil(20 / 16)
    const type = tensorType('f32', [2, 3, 10, 6]);
    const bad = node('sparse_attention', [q, k, v, tiles('i32', 3)], { scale: 0.3, tile: 16 }, type);
    const g = graph('g', [q, k, v], [bad]);
    expect(() => verify(g)).toThrow(/lists 3 tiles, want 1..2[\s\S]*sparse_attention\{scale=0.3, tile=16\}/);
  });

  it('round-trips through print/parse with a param tile list', () => {
    const kept = node('param', [], { name: 'blocks.0.attn.tiles' }, tensorType('i32', [2]));
    const g = graph('s', [q, k, v], [node('sparse_attention', [q, k, v, kept], { scale: 0.125, tile: 8 })]);
    verify(g);
    const text = print(g);
    expect(text).toContain('= sparse_attention{scale=0.125, tile=8}(%q, %k, %v, %0)');
    expect(text).toContain('%0: i32[2] = param{name="blocks.0.attn.tiles"}()');
    const back = parse(text);
    expect(print(back)).toBe(text);
    expect(back.outputs[0]).toBe(g.outputs[0]);
  });
});

describe('sparse_attention per query tile', () => {
  it('takes tiles i32[B, H, ceil(Nq/tile), T]', () => {
    const n = node('sparse_attention', [q, k, v, tiles('i32', 2, 3, 2, 2)], { scale: 0.3, tile: 8 });
    expect(n.type).toEqual({ dtype: 'f32', shape: [2, 3, 10, 6] });
  });

  it.each([
    ['the wrong query-tile count', tiles('i32', 2, 3, 3, 2), /per-query-tile tiles must be i32\[2, 3, 2, T\]/],
    ['the wrong heads', tiles('i32', 2, 1, 2, 2), /per-query-tile tiles must be i32\[2, 3, 2, T\]/],
    ['rank 3', tiles('i32', 3, 2, 2), /tiles must be i32\[T\] or, per query tile, i32\[2, 3, 2, T\]/],
    ['too many per row', tiles('i32', 2, 3, 2, 4), /lists 4 tiles, want 1..3/],
  ] as const)('rejects %s', (_name, list, msg) => {
    expect(() => node('sparse_attention', [q, k, v, list], { scale: 0.3, tile: 8 })).toThrow(msg);
  });
});

describe('sparse_attention per query tile of qtile rows', () => {
  it('takes tiles i32[B, H, ceil(Nq/qtile), T]: qtile = 2·tile, and one that does not divide Nq', () => {
    // Nq 10: qtile 8 → 2 query tiles (key tiles of 4), qtile 3 → 4
    expect(node('sparse_attention', [q, k, v, tiles('i32', 2, 3, 2, 5)], { scale: 0.3, tile: 4, qtile: 8 }).type)
      .toEqual({ dtype: 'f32', shape: [2, 3, 10, 6] });
    expect(node('sparse_attention', [q, k, v, tiles('i32', 2, 3, 4, 2)], { scale: 0.3, tile: 8, qtile: 3 }).type.shape)
      .toEqual([2, 3, 10, 6]);
    // qtile = tile is the default
    const same = node('sparse_attention', [q, k, v, tiles('i32', 2, 3, 2, 2)], { scale: 0.3, tile: 8, qtile: 8 });
    const plain = node('sparse_attention', [q, k, v, tiles('i32', 2, 3, 2, 2)], { scale: 0.3, tile: 8 });
    expect(same.type).toEqual(plain.type);
  });

  it.each([
    ['QT by tile, not qtile', [q, k, v, tiles('i32', 2, 3, 3, 2)], { scale: 1, tile: 4, qtile: 8 },
      /per-query-tile tiles must be i32\[2, 3, 2, T\] \(QT = ceil\(10 \/ 8\) \(qtile\)\)/],
    ['qtile 0', [q, k, v, tiles('i32', 2, 3, 2, 2)], { scale: 1, tile: 8, qtile: 0 },
      /attribute qtile must be an integer ≥ 1, got 0/],
    ['a fractional qtile', [q, k, v, tiles('i32', 2, 3, 2, 2)], { scale: 1, tile: 8, qtile: 5.5 },
      /attribute qtile must be an integer ≥ 1, got 5.5/],
    ['qtile on the 1-D list', [q, k, v, tiles('i32', 2)], { scale: 1, tile: 8, qtile: 16 },
      /qtile needs the per-query-tile form \(tiles i32\[B, H, QT, T\]\): the 1-D and scheduled lists have no query/],
    ['qtile on the scheduled list', [q, k, v, tiles('i32', 2, 2), inp('t', 'f32', 2)],
      { scale: 1, tile: 8, bounds: [0.5], qtile: 16 }, /qtile needs the per-query-tile form/],
  ] as const)('rejects %s', (_name, src, attrs, msg) => {
    expect(() => node('sparse_attention', src, attrs)).toThrow(IRError);
    expect(() => node('sparse_attention', src, attrs)).toThrow(msg);
  });

  it('round-trips through print/parse with qtile', () => {
    const list = tiles('i32', 2, 3, 2, 3);
    const n = node('sparse_attention', [q, k, v, list], { scale: 0.25, tile: 4, qtile: 8 });
    const g = graph('s', [q, k, v, list], [n]);
    verify(g);
    const text = print(g);
    expect(text).toContain('= sparse_attention{qtile=8, scale=0.25, tile=4}(%q, %k, %v, %tiles)');
    expect(print(parse(text))).toBe(text);
  });
});
