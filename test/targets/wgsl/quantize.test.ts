import { describe, expect, it } from 'vitest';
import { node, type Node } from '../../../ir/node.ts';
import { numel, type Shape } from '../../../ir/types.ts';
import { decodeTensor, encodeTensor, storageBytes } from '../../../runtime/buffers.ts';
import { packNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { hasF16, hasGpu, input, rng, runBoth, type Tol } from './harness.ts';

const EXACT: Tol = { rtol: 0, atol: 0 };

function f32(shape: Shape, values: ArrayLike<number>): Tensor {
  return tensor({ dtype: 'f32', shape }, Float32Array.from(values));
}

function randomF32(r: () => number, shape: Shape, lo: number, hi: number): Tensor {
  return f32(shape, Array.from({ length: numel(shape) }, () => lo + r() * (hi - lo)));
}

function leaves(inputs: Record<string, Tensor>): Node[] {
  return Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
}

/** Bitwise equality (exact integers and exact f32 roundings), reporting the first differing element. */
function expectSame(got: Tensor, want: Tensor): void {
  expect(got.type).toEqual(want.type);
  const i = Array.from(want.data).findIndex((w, j) => !Object.is(Number(got.data[j]), Number(w)));
  if (i >= 0) throw new Error(`element ${i}: got ${got.data[i]}, want ${want.data[i]}`);
}

describe('packed i8 storage layout (runtime/buffers.ts)', () => {
  it('packs 4 per u32 word, lowest byte = lowest k, rows padded to whole words, and round-trips', () => {
    const t = tensor({ dtype: 'i8', shape: [2, 5] }, Int8Array.from([1, -2, 3, -4, 5, -128, 127, 0, -1, 9]));
    expect(storageBytes(t.type, 'f32')).toBe(2 * 2 * 4);
    const words = new Uint32Array(encodeTensor(t, 'f32'));
    expect(Array.from(words)).toEqual([0xfc03fe01, 0x05, 0xff007f80, 0x09]);
    expect(Array.from(decodeTensor(t.type, encodeTensor(t, 'f32'), 'f32').data)).toEqual(Array.from(t.data));
  });
});

describe.skipIf(!hasGpu)('wgsl QDQ kernels on Dawn vs the CPU reference (bit-exact)', () => {
  for (const bits of [8, 6, 4]) {
    it(`token_scale bits=${bits} over [3,5,37], with an all-zero row (Δ = 1)`, async () => {
      const x = randomF32(rng(800 + bits), [3, 5, 37], -3, 3);
      x.data.fill(0, 37 * 4, 37 * 5);
      const inputs = { a: x };
      const [got, want] = await runBoth(node('token_scale', leaves(inputs), { bits }), inputs);
      expectSame(got, want);
      expect(want.data[4]).toBe(1);
      expect(want.data[0]).not.toBe(1);
    });
  }

  it('token_scale{clip} (learned activation clip), plain and with a layernorm prologue', async () => {
    const inputs = { a: randomF32(rng(811), [3, 5, 37], -3, 3) };
    const [got, want] = await runBoth(node('token_scale', leaves(inputs), { bits: 6, clip: Math.fround(0.9137) }), inputs);
    expectSame(got, want);
    const chained = { a: randomF32(rng(812), [2, 3, 40], -3, 3) };
    const n = node('token_scale', leaves(chained), { bits: 4, clip: Math.fround(0.77), norm: 'layernorm', eps: 1e-6 });
    const [g2, w2] = await runBoth(n, chained);
    g2.data.forEach((v, i) => expect(Math.abs(v - w2.data[i]!)).toBeLessThanOrEqual(2e-6 * Math.abs(w2.data[i]!)));
  });

  it('token_scale with rows longer than the workgroup (K = 1000)', async () => {
    const inputs = { a: randomF32(rng(810), [4, 1000], -50, 50) };
    const [got, want] = await runBoth(node('token_scale', leaves(inputs), { bits: 8 }), inputs);
    expectSame(got, want);
  });

  for (const bits of [8, 6, 4]) {
    it(`quantize bits=${bits}: per-token Δ[...,1], K = 37 (padded words), values past the clamp`, async () => {
      const r = rng(820 + bits);
      const x = randomF32(r, [2, 7, 37], -4, 4);
      // Δ below max|x| / qmax, so some values clamp at both ends
      const d = randomF32(r, [2, 7, 1], 0.5 / 2 ** (bits - 1), 4 / 2 ** (bits - 1));
      const inputs = { a: x, b: d };
      const [got, want] = await runBoth(node('quantize', leaves(inputs), { bits }), inputs);
      expectSame(got, want);
      const vals = Array.from(want.data);
      expect(Math.max(...vals)).toBe(2 ** (bits - 1) - 1);
      expect(Math.min(...vals)).toBe(-(2 ** (bits - 1)));
    });
  }

  it('quantize rounds exact ties half to even, with a broadcast scalar Δ', async () => {
    // x / 0.25 = ±0.5, ±1.5, ±2.5, ±3.5, 126.5, 127.5 (clamps), −128.5 (clamps), 4.49, 0
    const q = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 126.5, 127.5, -128.5, 4.49, 0];
    const inputs = { a: f32([1, q.length], q.map((v) => v * 0.25)), b: f32([1], [0.25]) };
    const [got, want] = await runBoth(node('quantize', leaves(inputs), { bits: 8 }), inputs);
    expect(Array.from(got.data)).toEqual([0, 0, 2, -2, 2, -2, 4, -4, 126, 127, -128, 4, 0]);
    expectSame(got, want);
  });

  it('quantize near half-integers with an awkward Δ follows the reference\'s f32 quotient rounding', async () => {
    const r = rng(830);
    // many values near .5 boundaries: x = (k + 0.5 ± tiny)·Δ with an awkward Δ
    const d = 0.0123456;
    const xs = Array.from({ length: 4 * 61 }, () => (Math.floor(r() * 200) - 100 + 0.5 + (r() - 0.5) * 1e-6) * d);
    const inputs = { a: f32([4, 61], xs), b: f32([4, 1], [d, d, d, d]) };
    const [got, want] = await runBoth(node('quantize', leaves(inputs), { bits: 8 }), inputs);
    expectSame(got, want);
  });

  it('dequantize packed i8 [4,37] with per-row Δ', async () => {
    const r = rng(840);
    const qv = Int8Array.from({ length: 4 * 37 }, () => Math.floor(r() * 256) - 128);
    const inputs = { a: tensor({ dtype: 'i8', shape: [4, 37] }, qv), b: randomF32(r, [4, 1], 0.001, 0.1) };
    const [got, want] = await runBoth(node('dequantize', leaves(inputs), {}), inputs);
    expectSame(got, want);
  });

  it('dequantize packed i4 [5,19] with per-channel Δ', async () => {
    const r = rng(850);
    const vals = Array.from({ length: 5 * 19 }, () => Math.floor(r() * 16) - 8);
    const inputs = {
      a: tensor({ dtype: 'i4', shape: [5, 19] }, packNibbles(vals, [5, 19])),
      b: randomF32(r, [5, 1], 0.001, 0.1),
    };
    const [got, want] = await runBoth(node('dequantize', leaves(inputs), {}), inputs);
    expectSame(got, want);
    expect(Array.from(got.data).some((v) => v < 0)).toBe(true);
  });

  it('dequantize i32 [3,7] with a broadcast [7] Δ', async () => {
    const r = rng(860);
    const inputs = {
      a: tensor({ dtype: 'i32', shape: [3, 7] }, Int32Array.from({ length: 21 }, () => Math.floor(r() * 2e6) - 1e6)),
      b: randomF32(r, [7], 0.001, 0.1),
    };
    const [got, want] = await runBoth(node('dequantize', leaves(inputs), {}), inputs);
    expectSame(got, want);
  });

  it.skipIf(!hasF16)('token_scale with f16 storage of x and Δ stays within f16 rounding', async () => {
    const r = rng(870);
    const x = randomF32(r, [6, 40], -2, 2);
    const inputs = { a: x };
    const [got, want] = await runBoth(node('token_scale', leaves(inputs), { bits: 8 }), inputs, 'f16');
    // Δ itself is stored as f16 here: compare within f16 rounding
    Array.from(want.data).forEach((w, i) => expect(Math.abs(Number(got.data[i]) - w)).toBeLessThanOrEqual(w * 1e-3));
  });
});
