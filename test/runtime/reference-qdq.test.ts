import { describe, expect, it } from 'vitest';
import { node, tensorType } from '../../ir/index.ts';
import { mulberry32 } from '../../compiler/data/prng.ts';
import { decodeE4m3, encodeE4m3, isE4m3Nan } from '../../ir/fp8.ts';
import { qmax } from '../../ir/quant.ts';
import { unpackNibbles } from '../../runtime/reference-pack.ts';
import { tensor } from '../../runtime/tensor.ts';
import { expectClose, inp, par, rand, run1 } from './reference-helpers.ts';

// Exactness: token_scale, quantize, dequantize and qgemm are defined with explicit f32 roundings, so the tests
// below recompute them independently and compare bit for bit (tolerance 0) unless a test says otherwise.

function rows(data: ArrayLike<number>, k: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < data.length; i += k) out.push(Array.from({ length: k }, (_, j) => data[i + j]!));
  return out;
}

describe('token_scale / quantize / dequantize', () => {
  it('token_scale is f32(max|x| / qmax) per row, and 1 for an all-zero row', () => {
    const x = rand('f32', [3, 4, 10], 11);
    const xs = Float32Array.from(x.data as Float32Array);
    xs.fill(0, 10, 20); // row 1 is all zero
    const X = inp('x', 'f32', [3, 4, 10]);
    for (const bits of [4, 6, 8]) {
      const got = run1(node('token_scale', [X], { bits }), { x: tensor(x.type, xs) });
      expect(got.type.shape).toEqual([3, 4, 1]);
      const want = rows(xs, 10).map((r) => {
        const m = Math.max(...r.map(Math.abs));
        return m === 0 ? 1 : Math.fround(m / qmax(bits));
      });
      expect([...got.data]).toEqual(want);
    }
  });

  it('token_scale{clip} divides by f32(qmax / clip): Δ shrinks to clip·max/qmax, and bad clips are refused', () => {
    const x = rand('f32', [4, 12], 12);
    const X = inp('x', 'f32', [4, 12]);
    const clip = Math.fround(0.8176);
    const got = run1(node('token_scale', [X], { bits: 6, clip }), { x });
    const plain = run1(node('token_scale', [X], { bits: 6 }), { x });
    const want = rows(Float32Array.from(x.data as Float32Array), 12).map((r) =>
      Math.fround(Math.max(...r.map(Math.abs)) / Math.fround(31 / clip)));
    expect([...got.data]).toEqual(want);
    got.data.forEach((d, i) => expect(d / plain.data[i]!).toBeCloseTo(clip, 5));
    expect(() => node('token_scale', [X], { bits: 6, clip: 1.5 })).toThrow(/clip must be a number in \(0, 1\]/);
    expect(() => node('token_scale', [X], { bits: 6, clip: 0 })).toThrow(/clip/);
  });

  it('quantize rounds f32(x / Δ) half to even and clamps; broadcasting a per-token Δ', () => {
    const X = inp('x', 'f32', [1, 8]);
    const D = inp('d', 'f32', [1, 1]);
    const x = tensor(tensorType('f32', [1, 8]), new Float32Array([0.5, 1.5, 2.5, -0.5, -2.5, 3.49, 100, -100]));
    const d = tensor(tensorType('f32', [1, 1]), new Float32Array([1]));
    expect([...run1(node('quantize', [X, D], { bits: 4 }), { x, d }).data]).toEqual([0, 2, 2, 0, -2, 3, 7, -8]);
    expect([...run1(node('quantize', [X, D], { bits: 6 }), { x, d }).data]).toEqual([0, 2, 2, 0, -2, 3, 31, -32]);
  });

  it('quantize → dequantize with the token scale stays within Δ/2 per element (A4, A6, A8)', () => {
    const x = rand('f32', [2, 5, 24], 5);
    const X = inp('x', 'f32', [2, 5, 24]);
    for (const bits of [4, 6, 8]) {
      const s = node('token_scale', [X], { bits });
      const q = node('quantize', [X, s], { bits });
      const got = run1(node('dequantize', [q, s]), { x });
      const scales = run1(s, { x }).data;
      const qs = run1(q, { x });
      expect(qs.type.dtype).toBe('i8');
      for (let i = 0; i < got.data.length; i++) {
        const d = scales[Math.floor(i / 24)]!;
        expect(Math.abs(qs.data[i]!)).toBeLessThanOrEqual(qmax(bits));
        expect(Math.abs(got.data[i]! - x.data[i]!)).toBeLessThanOrEqual(d / 2 + 1e-6 * d);
        expect(got.data[i]).toBe(Math.fround(qs.data[i]! * d));
      }
    }
  });

  it('dequantize reads packed i4 weights with per-channel scales', () => {
    const wq = rand('i4', [6, 11], 2);
    const sw = rand('f32', [6, 1], 3);
    const got = run1(node('dequantize', [par('w.q', 'i4', [6, 11]), par('w.scale', 'f32', [6, 1])]), {},
      { 'w.q': wq, 'w.scale': sw });
    const vals = unpackNibbles(wq.data as Uint32Array, [6, 11], true);
    expect(vals.some((v) => v < 0)).toBe(true);
    expect([...got.data]).toEqual([...vals].map((v, i) => Math.fround(v * sw.data[Math.floor(i / 11)]!)));
  });
});

/** The same integer math written naively: integer sum, then ((f32(acc)·Δx)·Δw) + b in f32. */
function naiveQgemm(
  x: ArrayLike<number>, sx: ArrayLike<number>, w: ArrayLike<number>, sw: ArrayLike<number>,
  b: ArrayLike<number> | undefined, n: number, k: number,
): number[] {
  const out: number[] = [];
  for (let r = 0; r < sx.length; r++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let i = 0; i < k; i++) acc += x[r * k + i]! * w[j * k + i]!;
      expect(Number.isSafeInteger(acc) && Math.abs(acc) < 2 ** 31).toBe(true);
      const y = Math.fround(Math.fround(Math.fround(acc) * sx[r]!) * sw[j]!);
      out.push(b ? Math.fround(y + b[j]!) : y);
    }
  }
  return out;
}

describe('qgemm', () => {
  const [B, M, K, N] = [2, 3, 45, 7];
  const inputs = {
    x: rand('i8', [B, M, K], 21, 64), // 0..63, shifted below to the A6 range
    sx: rand('f32', [B, M, 1], 22),
    sw: rand('f32', [N, 1], 23),
    b: rand('f32', [N], 24),
  };
  const xs = Int8Array.from(inputs.x.data, (v) => v - 32);
  const X = inp('x', 'i8', [B, M, K]);
  const SX = inp('sx', 'f32', [B, M, 1]);

  const WEIGHTS = [['i4', 4], ['i8', 8]] as const;
  it.each(WEIGHTS)('equals the naive integer math exactly (%s weights, ± bias)', (dt, wbits) => {
    const wq = rand(dt, [N, K], 25, dt === 'i8' ? 128 : undefined);
    const wvals = dt === 'i4'
      ? unpackNibbles(wq.data as Uint32Array, [N, K], true)
      : Int8Array.from(wq.data, (v) => v - 64);
    expect(wvals.some((v) => v < 0) && wvals.some((v) => v > 0)).toBe(true);
    const wt = dt === 'i4' ? wq : tensor(wq.type, wvals as Int8Array);
    const W = par('w.q', dt, [N, K]);
    const SW = par('w.scale', 'f32', [N, 1]);
    const params = { 'w.q': wt, 'w.scale': inputs.sw, 'w.bias': inputs.b };
    const ins = { x: tensor(inputs.x.type, xs), sx: inputs.sx };
    const withBias = node('qgemm', [X, SX, W, SW, par('w.bias', 'f32', [N])], { abits: 6, wbits });
    const got = run1(withBias, ins, params);
    expect(got.type.shape).toEqual([B, M, N]);
    expect([...got.data]).toEqual(naiveQgemm(xs, inputs.sx.data, wvals, inputs.sw.data, inputs.b.data, N, K));
    const noBias = run1(node('qgemm', [X, SX, W, SW], { abits: 6, wbits }), ins, params);
    expect([...noBias.data]).toEqual(naiveQgemm(xs, inputs.sx.data, wvals, inputs.sw.data, undefined, N, K));
  });

  it('matches the float linear over the dequantized operands up to f32 rounding (rel 1e-5)', () => {
    const wq = rand('i4', [N, K], 26);
    const W = par('w.q', 'i4', [N, K]);
    const SW = par('w.scale', 'f32', [N, 1]);
    const params = { 'w.q': wq, 'w.scale': inputs.sw, 'w.bias': inputs.b };
    const ins = { x: tensor(inputs.x.type, xs), sx: inputs.sx };
    const bias = par('w.bias', 'f32', [N]);
    const q = run1(node('qgemm', [X, SX, W, SW, bias], { abits: 6, wbits: 4 }), ins, params);
    const lin = node('linear', [node('dequantize', [X, SX]), node('dequantize', [W, SW]), bias]);
    const f = run1(lin, ins, params);
    expectClose(q.data, f.data, 1e-6, 1e-5);
  });

  it('refuses a K that could overflow the i32 accumulator', () => {
    const k = 2 ** 17;
    const g = node('qgemm', [inp('x', 'i8', [1, k]), inp('sx', 'f32', [1, 1]), par('w', 'i8', [1, k]),
      par('s', 'f32', [1, 1])], { abits: 8, wbits: 8 });
    const ins = { x: rand('i8', [1, k], 1), sx: rand('f32', [1, 1], 2) };
    expect(() => run1(g, ins, { w: rand('i8', [1, k], 3), s: rand('f32', [1, 1], 4) })).toThrow(/overflow the i32/);
  });
});

describe('FP8 (e4m3) activations: format / aformat = e4m3', () => {
  const [B, M, K, N] = [2, 3, 45, 7];
  const X = inp('x', 'f32', [B, M, K]);

  it('token_scale divides by 448; quantize writes the e4m3 codes of f32(x / Δ); dequantize reads their values', () => {
    const x = rand('f32', [B, M, K], 31);
    const d = run1(node('token_scale', [X], { bits: 8, format: 'e4m3' }), { x });
    const want = rows(x.data, K).map((r) => Math.fround(Math.max(...r.map(Math.abs)) / 448));
    expect([...d.data]).toEqual(want);
    const D = inp('d', 'f32', [B, M, 1]);
    const q = run1(node('quantize', [X, D], { bits: 8, format: 'e4m3' }), { x, d });
    expect(q.type.dtype).toBe('i8');
    const codes = Array.from(x.data, (v, i) => (encodeE4m3(Math.fround(v / d.data[Math.floor(i / K)]!)) << 24) >> 24);
    expect([...q.data]).toEqual(codes);
    // the row max lands on ±448 (code 0x7e / 0xfe) and every code is finite
    expect(rows(q.data, K).every((r) => r.some((c) => (c & 0x7f) === 0x7e))).toBe(true);
    expect([...q.data].some((c) => isE4m3Nan(c))).toBe(false);
    const Q = inp('q', 'i8', [B, M, K]);
    const dq = run1(node('dequantize', [Q, D], { format: 'e4m3' }), { q, d });
    expect([...dq.data]).toEqual(Array.from(q.data, (c, i) => Math.fround(decodeE4m3(c) * d.data[Math.floor(i / K)]!)));
    // e4m3 keeps 3 mantissa bits: within half an e4m3 step (2^−4 relative) of x, or 2^−10·Δ near zero
    x.data.forEach((v, i) => expect(Math.abs(dq.data[i]! - v)).toBeLessThanOrEqual(
      Math.abs(v) / 16 + d.data[Math.floor(i / K)]! * 2 ** -10));
  });

  it('the type rules refuse e4m3 with other bit widths, non-i8 codes and int8 weights', () => {
    const D = inp('d', 'f32', [B, M, 1]);
    expect(() => node('token_scale', [X], { bits: 6, format: 'e4m3' })).toThrow(/e4m3 needs 8 bits, got 6/);
    expect(() => node('quantize', [X, D], { bits: 8, format: 'fp8' })).toThrow(/format must be "int" or "e4m3"/);
    expect(() => node('dequantize', [inp('q', 'i32', [B, M, K]), D], { format: 'e4m3' })).toThrow(/e4m3 codes are i8/);
    const x8 = inp('xq', 'i8', [B, M, K]);
    expect(() => node('qgemm', [x8, D, par('w', 'i8', [N, K]), par('s', 'f32', [N, 1])],
      { abits: 8, wbits: 8, aformat: 'e4m3' })).toThrow(/e4m3 activations pair with i4 weights/);
  });

  it('qgemm sums e4m3 × int4 products exactly and rounds once, then scales like the integer qgemm', () => {
    const r = mulberry32(77).next;
    // random finite codes (no NaN), all exponents, both signs
    const codes = Int8Array.from({ length: B * M * K }, () => {
      let c = Math.floor(r() * 256);
      while (isE4m3Nan(c)) c = Math.floor(r() * 256);
      return (c << 24) >> 24;
    });
    const wq = rand('i4', [N, K], 41);
    const wv = unpackNibbles(wq.data as Uint32Array, [N, K], true);
    const ins = { xq: tensor(tensorType('i8', [B, M, K]), codes), sx: rand('f32', [B, M, 1], 42) };
    const params = { 'w.q': wq, 'w.scale': rand('f32', [N, 1], 43), 'w.bias': rand('f32', [N], 44) };
    const n = node('qgemm', [inp('xq', 'i8', [B, M, K]), inp('sx', 'f32', [B, M, 1]), par('w.q', 'i4', [N, K]),
      par('w.scale', 'f32', [N, 1]), par('w.bias', 'f32', [N])], { abits: 8, wbits: 4, aformat: 'e4m3' });
    const got = run1(n, ins, params);
    const want: number[] = [];
    for (let m = 0; m < B * M; m++) {
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += decodeE4m3(codes[m * K + k]!) * wv[j * K + k]!;
        const f = Math.fround;
        want.push(f(f(f(f(acc) * ins.sx.data[m]!) * params['w.scale'].data[j]!) + params['w.bias'].data[j]!));
      }
    }
    expect([...got.data]).toEqual(want);
  });
});
