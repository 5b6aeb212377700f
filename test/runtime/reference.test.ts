import { describe, expect, it } from 'vitest';
import { graph, node, tensorType } from '../../ir/index.ts';
import { parseExpr } from '../../ir/expr-text.ts';
import type { Expr } from '../../ir/expr.ts';
import { roundF16 } from '../../compiler/weights/f16.ts';
import { castValue, compileExpr, erf, evalBinary, evalUnary, runReference } from '../../runtime/reference.ts';
import { tensor } from '../../runtime/tensor.ts';
import { expectClose, inp, mapWeights, par, rand, run1, unravel } from './reference-helpers.ts';

const sig = (x: number): number => 1 / (1 + Math.exp(-x));
const UNARY_CASES: [string, (x: number) => number, boolean][] = [
  ['neg', (x) => -x, false], ['abs', Math.abs, false], ['exp', Math.exp, false], ['log', Math.log, true],
  ['sqrt', Math.sqrt, true], ['rsqrt', (x) => 1 / Math.sqrt(x), true], ['recip', (x) => 1 / x, false],
  ['square', (x) => x * x, false], ['tanh', Math.tanh, false], ['sigmoid', sig, false],
  ['relu', (x) => Math.max(0, x), false], ['silu', (x) => x * sig(x), false], ['sin', Math.sin, false],
  ['cos', Math.cos, false],
];

describe('scalar semantics', () => {
  it('erf and gelu(erf) match known values', () => {
    const known: [number, number][] = [[0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
      [3, 0.9999779095030014], [-1.5, -0.9661051464753108], [0, 0]];
    for (const [x, want] of known) expect(erf(x)).toBeCloseTo(want, 14);
    expect(evalUnary('gelu', 1.0)).toBeCloseTo(0.8413447460685429, 12);
    expect(evalUnary('gelu', -1.0)).toBeCloseTo(-0.15865525393145707, 12);
    expect(evalUnary('gelu', 1.0, { approx: 'tanh' })).toBeCloseTo(
      0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (1 + 0.044715))), 14);
    expect(() => evalUnary('gelu', 1, { approx: 'fast' })).toThrow(/approx/);
  });

  it('cast rounds half to even, saturates, maps NaN to 0', () => {
    const xs = [2.5, 3.5, -2.5, -3.5, 200, -200, NaN, 0.49999997, 1.5];
    expect(xs.map((x) => castValue(x, 'i8'))).toEqual([2, 4, -2, -4, 127, -128, 0, 0, 2]);
    expect(castValue(-3, 'u8')).toBe(0);
    expect(castValue(1e12, 'i32')).toBe(2147483647);
    expect(castValue(7.5, 'i4')).toBe(7);
    expect(castValue(1 / 3, 'f16')).toBe(0.333251953125);
    expect(castValue(65520, 'f16')).toBe(Infinity);
    expect(castValue(0.25, 'bool')).toBe(1);
  });

  it('integer binary ops wrap and truncate', () => {
    expect(evalBinary('mul', 65536, 65536, 'i32') | 0).toBe(0);
    expect(evalBinary('div', -7, 2, 'i32')).toBe(-3);
    expect(evalBinary('div', 7, 0, 'i32')).toBe(0);
    expect(evalBinary('pow', 3, 4, 'i32')).toBe(81);
    expect(evalBinary('div', -7, 2)).toBe(-3.5);
    expect(Number.isNaN(evalBinary('max', NaN, 1))).toBe(true);
  });
});

describe('elementwise nodes', () => {
  it.each(UNARY_CASES)('%s matches its formula, stored in f32', (op, f, positive) => {
    const x = inp('x', 'f32', [3, 17]);
    const xt = rand('f32', [3, 17], 11);
    const xs = positive ? tensor(xt.type, xt.data.map((v) => Math.abs(v) + 0.01)) : xt;
    const got = run1(node(op as 'exp', [x]), { x: xs });
    expect(Array.from(got.data)).toEqual(Array.from(xs.data, (v) => Math.fround(f(v))));
  });

  it('binary ops broadcast numpy-style', () => {
    const [a, b] = [inp('a', 'f32', [2, 3, 4]), inp('b', 'f32', [3, 1])];
    const [at, bt] = [rand('f32', [2, 3, 4], 1), rand('f32', [3, 1], 2)];
    for (const [op, f] of [['sub', (p: number, q: number) => p - q], ['pow', Math.pow],
      ['max', Math.max]] as const) {
      const got = run1(node(op, [a, b]), { a: at, b: bt });
      const want = Array.from({ length: 24 }, (_, i) => {
        const [, j] = unravel(i, [2, 3, 4]);
        return Math.fround(f(at.data[i]!, bt.data[j!]!));
      });
      expect(Array.from(got.data)).toEqual(want);
    }
  });

  it('i32 add wraps around', () => {
    const [a, b] = [inp('a', 'i32', [2]), inp('b', 'i32', [2])];
    const got = run1(node('add', [a, b]), {
      a: tensor(tensorType('i32', [2]), Int32Array.from([2147483647, -5])),
      b: tensor(tensorType('i32', [2]), Int32Array.from([1, 3])),
    });
    expect(Array.from(got.data)).toEqual([-2147483648, -2]);
  });

  it('where selects with broadcasting', () => {
    const [c, a, b] = [inp('c', 'bool', [4, 1]), inp('a', 'f32', [1, 5]), inp('b', 'f32', [4, 5])];
    const [ct, at, bt] = [rand('bool', [4, 1], 3), rand('f32', [1, 5], 4), rand('f32', [4, 5], 5)];
    const got = run1(node('where', [c, a, b]), { c: ct, a: at, b: bt });
    const want = Array.from({ length: 20 }, (_, i) => (ct.data[Math.floor(i / 5)] ? at.data[i % 5]! : bt.data[i]!));
    expect(Array.from(got.data)).toEqual(want);
    expect(new Set(ct.data).size).toBe(2);
  });

  it('cast node converts f32 → i8 and f32 → f16 values', () => {
    const x = inp('x', 'f32', [40]);
    const xt = tensor(x.type, rand('f32', [40], 6).data.map((v) => v * 300));
    const toI8 = run1(node('cast', [x], { to: 'i8' }), { x: xt });
    expect(toI8.data).toBeInstanceOf(Int8Array);
    expect(Array.from(toI8.data)).toEqual(Array.from(xt.data, (v) => castValue(v, 'i8')));
    const toF16 = run1(node('cast', [x], { to: 'f16' }), { x: xt });
    expect(Array.from(toF16.data)).toEqual(Array.from(xt.data, roundF16));
  });
});

describe('reduce', () => {
  const shape = [3, 4, 5];
  const xt = rand('f32', shape, 7);
  const x = inp('x', 'f32', shape);
  function naive(axes: number[], f: (vals: number[]) => number): number[] {
    const groups = new Map<string, number[]>();
    for (let i = 0; i < 60; i++) {
      const key = unravel(i, shape).map((v, k) => (axes.includes(k) ? 0 : v)).join();
      groups.set(key, [...(groups.get(key) ?? []), xt.data[i]!]);
    }
    return [...groups.values()].map((v) => Math.fround(f(v)));
  }
  const sum = (v: number[]): number => v.reduce((a, b) => a + b, 0);

  it('sum/mean/max over several axes, with and without keepdims', () => {
    const s = run1(node('reduce_sum', [x], { axes: [0, 2] }), { x: xt });
    expect(s.type.shape).toEqual([4]);
    expectClose(s.data, naive([0, 2], sum), 1e-6);
    const m = run1(node('reduce_mean', [x], { axes: [-1], keepdims: true }), { x: xt });
    expect(m.type.shape).toEqual([3, 4, 1]);
    expectClose(m.data, naive([2], (v) => sum(v) / v.length), 1e-7);
    const mx = run1(node('reduce_max', [x], { axes: [1] }), { x: xt });
    expect(Array.from(mx.data)).toEqual(naive([1], (v) => Math.max(...v)));
  });
});

describe('fused', () => {
  it('evaluates bit-identically to the unfused chain', () => {
    const [a, b] = [inp('a', 'f32', [4, 6]), inp('b', 'f32', [6])];
    const ins = { a: rand('f32', [4, 6], 8), b: rand('f32', [6], 9) };
    const unfused = run1(node('mul', [node('silu', [node('add', [a, b])]), node('const', [], { value: 0.1 },
      tensorType('f32', [4, 6]))]), ins);
    const fused = run1(node('fused', [a, b], { expr: 'mul(silu(add($0, $1)), 0.1)' }), ins);
    expect(Array.from(fused.data)).toEqual(Array.from(unfused.data));
  });

  it('compiles hand-built Expr trees, including gelu attrs and where', () => {
    const e: Expr = { kind: 'op', op: 'where', attrs: {}, args: [
      { kind: 'input', index: 0 },
      { kind: 'op', op: 'gelu', attrs: { approx: 'tanh' }, args: [{ kind: 'input', index: 1 }] },
      { kind: 'const', value: -2 },
    ] };
    const { fn } = compileExpr(e, ['bool', 'f32'], 'f32', false);
    expect(fn([1, 1])).toBe(Math.fround(evalUnary('gelu', 1, { approx: 'tanh' })));
    expect(fn([0, 1])).toBe(-2);
    expect(() => compileExpr(parseExpr('add($0, $3)'), ['f32'], 'f32', false)).toThrow(/\$3.*1 operands/);
  });
});

describe('runReference', () => {
  const x = inp('x', 'f32', [2, 3]);
  const w = par('w', 'f32', [4, 3]);
  const g = graph('g', [x], [node('linear', [x, w])]);
  const wt = mapWeights({ w: rand('f32', [4, 3], 1) });

  it('names the missing input and what was given', () => {
    expect(() => runReference(g, {}, wt)).toThrow(/missing input 'x' \(given: none\)/);
    expect(() => runReference(g, { x: rand('f32', [2, 3], 1), y: rand('f32', [1], 1) }, wt))
      .toThrow(/unknown input 'y' \(graph inputs: x\)/);
  });

  it('names the missing param and lists the weights', () => {
    expect(() => runReference(g, { x: rand('f32', [2, 3], 1) }, mapWeights({ v: rand('f32', [1], 1) })))
      .toThrow(/missing param 'w' \(weights hold: v\)/);
  });

  it('rejects inputs of the wrong shape, dtype or storage', () => {
    expect(() => runReference(g, { x: rand('f32', [3, 2], 1) }, wt))
      .toThrow(/input 'x' has type f32\[3,2\].*f32\[2,3\]/);
    expect(() => runReference(g, { x: rand('i32', [2, 3], 1) }, wt)).toThrow(/i32\[2,3\]/);
    const bad = { type: tensorType('f32', [2, 3]), data: new Int32Array(6) };
    expect(() => runReference(g, new Map([['x', bad]]), wt)).toThrow(/must hold a Float32Array, got Int32Array/);
  });

  it('stores f16 results at f16 precision, and f64 mode keeps more', () => {
    const h = inp('h', 'f16', [64]);
    const ht = rand('f16', [64], 3);
    const out = run1(node('exp', [h]), { h: ht });
    expect(Array.from(out.data)).toEqual(Array.from(ht.data, (v) => roundF16(Math.exp(v))));
    const f = inp('f', 'f32', [64]);
    const ft = rand('f32', [64], 3);
    const chain = node('div', [node('exp', [f]), node('const', [], { value: 3 }, tensorType('f32', [64]))]);
    const exact = Array.from(ft.data, (v) => Math.exp(v) / 3);
    const e64 = run1(chain, { f: ft }, {}, { f64: true });
    expect(Array.from(e64.data)).toEqual(exact.map(Math.fround));
    const e32 = run1(chain, { f: ft });
    expectClose(e32.data, exact, 0, 2 ** -22);
  });

  it('keeps only live tensors yet returns every output, including inputs', () => {
    let y = x;
    for (let i = 0; i < 50; i++) y = node('tanh', [node('add', [y, x])]);
    const xt = rand('f32', [2, 3], 4);
    const [out, same] = runReference(graph('chain', [x], [y, x]), { x: xt }, mapWeights({}));
    expect(same!.data).toEqual(xt.data);
    let want = Array.from(xt.data);
    for (let i = 0; i < 50; i++) want = want.map((v, k) => Math.fround(Math.tanh(Math.fround(v + xt.data[k]!))));
    expect(Array.from(out!.data)).toEqual(want);
  });

  it('runs a tiny-model sized block within seconds', () => {
    const [B, N, D, H] = [2, 512, 256, 4];
    const h = inp('h', 'f32', [B, N, D]);
    const qkv = node('linear', [h, par('qkv', 'f32', [3 * D, D])]);
    const split = node('permute', [node('reshape', [qkv], { shape: [B, N, 3, H, D / H] })], { perm: [2, 0, 3, 1, 4] });
    const part = (i: number) => node('reshape', [node('slice', [split], { axis: 0, start: i, end: i + 1 })],
      { shape: [B, H, N, D / H] });
    const att = node('attention', [part(0), part(1), part(2)], { scale: 0.125 });
    const mlp = node('linear', [node('gelu', [node('linear', [h, par('up', 'f32', [4 * D, D])])], { approx: 'tanh' }),
      par('down', 'f32', [D, 4 * D])]);
    const w = { qkv: rand('f32', [3 * D, D], 1), up: rand('f32', [4 * D, D], 2), down: rand('f32', [D, 4 * D], 3) };
    const t0 = performance.now();
    const [o1, o2] = runReference(graph('blk', [h], [att, mlp]), { h: rand('f32', [B, N, D], 4) }, mapWeights(w));
    const ms = performance.now() - t0;
    expect(o1!.type.shape).toEqual([B, H, N, D / H]);
    expect(o2!.data.every(Number.isFinite)).toBe(true);
    // about 1 s on an idle core; the margin absorbs a loaded CI machine
    expect(ms).toBeLessThan(10000);
  });
});
