import { describe, expect, it } from 'vitest';
import { decodeE4m3, isE4m3Nan } from '../../../ir/fp8.ts';
import { node, type Node } from '../../../ir/node.ts';
import { numel, type Shape } from '../../../ir/types.ts';
import { packNibbles, unpackNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { chooseVariant, lowerNode, qgemmVariant } from '../../../targets/wgsl/select.ts';
import { hasF16, hasGpu, input, rng, runBoth } from './harness.ts';

/*
 * W4A8-FP8 on WGSL (targets/wgsl/kernels/qgemm-fp8.ts, the e4m3 paths of quantize.ts / quantize-prologue.ts) on
 * Dawn (lavapipe here) vs the CPU reference. token_scale, quantize and dequantize are bit-exact. qgemm sums exact
 * products in f32 in its own order, so per element |gpu − ref| ≤ 2^−24 · ((K + 4) · Σ_k |x_k w_k| · Δx Δw + 4 |ref|):
 * K roundings of partial sums bounded by the absolute sum, and the epilogue's few roundings.
 */

const f32 = (r: () => number, shape: Shape, lo: number, hi: number): Tensor =>
  tensor({ dtype: 'f32', shape }, Float32Array.from({ length: numel(shape) }, () => lo + r() * (hi - lo)));

const leaves = (inputs: Record<string, Tensor>): Node[] =>
  Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));

function expectSame(got: Tensor, want: Tensor): void {
  expect(got.type).toEqual(want.type);
  const i = Array.from(want.data).findIndex((w, j) => !Object.is(Number(got.data[j]), Number(w)));
  if (i >= 0) throw new Error(`element ${i}: got ${got.data[i]}, want ${want.data[i]}`);
}

/** Values spanning e4m3's whole range once divided by Δ: |x / Δ| from 2^−12 (subnormal, flushes) to 2^10 (saturates). */
function wideValues(r: () => number, n: number, delta: number): number[] {
  return Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * 2 ** (-12 + 22 * r()) * delta);
}

function randomCodes(r: () => number, n: number): Int8Array {
  return Int8Array.from({ length: n }, () => {
    let c = Math.floor(r() * 256);
    while (isE4m3Nan(c)) c = Math.floor(r() * 256);
    return (c << 24) >> 24;
  });
}

interface QgemmFp8 {
  readonly n: Node;
  readonly inputs: Record<string, Tensor>;
  /** Σ_k |x_k · w_k| · Δx · Δw per output element, for the tolerance */
  readonly bound: Float64Array;
}

function qgemmCase([B, T, K, N]: readonly number[], seed: number, epi: { bias?: boolean; act?: string } = {}): QgemmFp8 {
  const r = rng(seed);
  const M = B! * T!;
  const codes = randomCodes(r, M * K!);
  const wv = Array.from({ length: N! * K! }, () => Math.floor(r() * 16) - 8);
  const inputs: Record<string, Tensor> = {
    a: tensor({ dtype: 'i8', shape: [B!, T!, K!] }, codes),
    b: f32(r, [B!, T!, 1], 0.001, 0.03),
    c: tensor({ dtype: 'i4', shape: [N!, K!] }, packNibbles(wv, [N!, K!])),
    d: f32(r, [N!, 1], 0.001, 0.05),
    ...(epi.bias ? { e: f32(r, [N!], -1, 1) } : {}),
  };
  const bound = new Float64Array(M * N!);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < N!; j++) {
      let s = 0;
      for (let k = 0; k < K!; k++) s += Math.abs(decodeE4m3(codes[m * K! + k]!) * wv[j * K! + k]!);
      bound[m * N! + j] = s * inputs['b']!.data[m]! * inputs['d']!.data[j]!;
    }
  }
  const attrs = { abits: 8, wbits: 4, aformat: 'e4m3', ...(epi.act ? { act: epi.act } : {}) };
  return { n: node('qgemm', leaves(inputs), attrs), inputs, bound };
}

function expectWithinBound(got: Tensor, want: Tensor, c: QgemmFp8, K: number, slack = 1): void {
  let worst = 0;
  want.data.forEach((w, i) => {
    const tol = 2 ** -24 * ((K + 4) * c.bound[i]! + 4 * Math.abs(w)) * slack;
    worst = Math.max(worst, Math.abs(Number(got.data[i]) - w) / tol);
  });
  expect(worst).toBeLessThanOrEqual(1);
}

describe('W4A8-FP8 kernel selection', () => {
  const c = qgemmCase([1, 4, 64, 8], 1);
  it('picks the fp8 kernel for e4m3 activations on every device, and refuses a forced integer variant', () => {
    expect(qgemmVariant(c.n, DEFAULT_CAPS)).toBe('fp8');
    const ctx = { elem: 'f32' as const, caps: DEFAULT_CAPS };
    expect(chooseVariant(c.n, ctx)).toBe('fp8');
    expect(lowerNode(c.n, ctx).name).toBe('qgemm_fp8');
    expect(() => lowerNode(c.n, { ...ctx, variant: { qgemm: 'direct' } })).toThrow(/e4m3 activations runs only the fp8/);
    const int = node('qgemm', c.n.src, { abits: 8, wbits: 4 });
    expect(() => lowerNode(int, { ...ctx, variant: { qgemm: 'fp8' } })).toThrow(/needs aformat = e4m3/);
  });

  it('states in the kernel that storage is 8-bit and the arithmetic f32', () => {
    const src = lowerNode(c.n, { elem: 'f32', caps: DEFAULT_CAPS }).source;
    expect(src).toContain('fn e4m3x4(w: u32) -> vec4<f32>');
    expect(src).toContain('var acc0_0 = 0.0;');
  });
});

describe.skipIf(!hasGpu)('wgsl W4A8-FP8 kernels on Dawn vs the CPU reference', () => {
  it('token_scale{format=e4m3}: Δ = f32(max|x| / 448), bit-exact', async () => {
    const inputs = { a: f32(rng(1), [3, 5, 37], -3, 3) };
    const [got, want] = await runBoth(node('token_scale', leaves(inputs), { bits: 8, format: 'e4m3' }), inputs);
    expectSame(got, want);
  });

  it('quantize{format=e4m3}: codes bit-exact over the whole range (subnormals, saturation, signs, K = 37)', async () => {
    const r = rng(2);
    const d = f32(r, [2, 7, 1], 0.01, 0.1);
    const xs = Array.from({ length: 2 * 7 * 37 }, (_, i) => wideValues(r, 1, d.data[Math.floor(i / 37)]!)[0]!);
    const inputs = { a: tensor({ dtype: 'f32', shape: [2, 7, 37] }, Float32Array.from(xs)), b: d };
    const [got, want] = await runBoth(node('quantize', leaves(inputs), { bits: 8, format: 'e4m3' }), inputs);
    expectSame(got, want);
    const codes = Array.from(want.data, (c) => c & 0xff);
    expect(codes.some((c) => (c & 0x7f) === 0x7e)).toBe(true); // saturated
    expect(codes.some((c) => (c & 0x7f) > 0 && (c & 0x7f) < 8)).toBe(true); // subnormal
    expect(codes.some((c) => c & 0x80)).toBe(true);
  });

  it('quantize{format=e4m3} rounds exact ties to the even code; NaN gives +0', async () => {
    const mids: number[] = [];
    for (let c = 0; c < 0x7e; c += 3) mids.push((decodeE4m3(c) + decodeE4m3(c + 1)) / 2);
    const vals = [...mids, ...mids.map((v) => -v), NaN];
    const inputs = { a: tensor({ dtype: 'f32', shape: [1, vals.length] }, Float32Array.from(vals, (v) => v * 0.25)),
      b: tensor({ dtype: 'f32', shape: [1] }, Float32Array.from([0.25])) };
    const [got, want] = await runBoth(node('quantize', leaves(inputs), { bits: 8, format: 'e4m3' }), inputs);
    expectSame(got, want);
    expect(got.data[vals.length - 1]).toBe(0);
  });

  it('dequantize{format=e4m3} reads every finite code, bit-exact', async () => {
    const r = rng(3);
    const codes = Int8Array.from({ length: 4 * 64 }, (_, i) => (isE4m3Nan(i & 0xff) ? 0 : ((i & 0xff) << 24) >> 24));
    const inputs = { a: tensor({ dtype: 'i8', shape: [4, 64] }, codes), b: f32(r, [4, 1], 0.5, 2) };
    const [got, want] = await runBoth(node('dequantize', leaves(inputs), { format: 'e4m3' }), inputs);
    expectSame(got, want);
  });

  it('quantize{format=e4m3} with a layernorm + modulate prologue: codes exact or one step apart (f32 chain ulps)', async () => {
    const r = rng(4);
    const [B, T, D] = [2, 7, 70];
    const inputs = { h: f32(r, [B, T, D], -4, 4), sh: f32(r, [B, D], -1, 1), sc: f32(r, [B, D], -1, 1) };
    const attrs = { bits: 8, format: 'e4m3', norm: 'layernorm', eps: 1e-6, modulate: true };
    const [gotS, wantS] = await runBoth(node('token_scale', leaves(inputs), attrs), inputs);
    gotS.data.forEach((v, i) => expect(Math.abs(v - wantS.data[i]!)).toBeLessThanOrEqual(1e-6 * wantS.data[i]!));
    const withD = { ...inputs, delta: wantS };
    const q = node('quantize', [...leaves(inputs), input('delta', 'f32', wantS.type.shape)], attrs);
    const [gotQ, wantQ, spec] = await runBoth(q, withD);
    expect(spec.name).toBe('quantize_chain');
    const far = Array.from(wantQ.data).filter((w, i) => Math.abs(decodeE4m3(w) - decodeE4m3(gotQ.data[i]!)) >
      Math.abs(decodeE4m3(w)) / 8 + 2 ** -9);
    expect(far).toEqual([]);
    const same = Array.from(wantQ.data).filter((w, i) => w === gotQ.data[i]).length;
    expect(same / wantQ.data.length).toBeGreaterThan(0.99);
  });

  const SHAPES: [string, number[], { bias?: boolean; act?: string }][] = [
    ['odd shape (K = 45: odd word count, padded rows)', [3, 5, 45, 20], {}],
    ['bias + gelu_tanh, K = 96', [2, 9, 96, 40], { bias: true, act: 'gelu_tanh' }],
    ['long K = 1000 (f32 sums of many terms)', [1, 3, 1000, 9], { bias: true }],
  ];
  SHAPES.forEach(([name, shape, epi], i) => {
    it(`qgemm{aformat=e4m3} ${name}: within the f32 summation bound`, async () => {
      const c = qgemmCase(shape, 100 + i, epi);
      const [got, want, spec] = await runBoth(c.n, c.inputs);
      expect(spec.name).toBe('qgemm_fp8');
      // gelu's slope ≤ 1.13 and its own rounding: a little slack
      expectWithinBound(got, want, c, shape[2]!, epi.act ? 2 : 1);
      expect(Array.from(want.data).some((v) => v < 0) && Array.from(want.data).some((v) => v > 0)).toBe(true);
    });
  });

  it.skipIf(!hasF16)('qgemm{aformat=e4m3} with f16 storage of scales and output: within f16 rounding', async () => {
    const c = qgemmCase([2, 6, 64, 24], 200);
    const [got, want] = await runBoth(c.n, c.inputs, 'f16');
    want.data.forEach((w, i) => expect(Math.abs(Number(got.data[i]) - w)).toBeLessThanOrEqual(
      2e-3 * (Math.abs(w) + c.bound[i]!)));
  });

  it('unit scales (Δx = Δw = 1): the raw Σ e4m3 · int4 over all 16 nibble values, within the bound', async () => {
    const c = qgemmCase([1, 4, 16, 8], 300);
    const ones = (shape: Shape): Tensor => tensor({ dtype: 'f32', shape }, new Float32Array(numel(shape)).fill(1));
    const inputs: Record<string, Tensor> = { ...c.inputs, b: ones([1, 4, 1]), d: ones([8, 1]) };
    const [got, want] = await runBoth(c.n, inputs);
    const wv = unpackNibbles(inputs['c']!.data as Uint32Array, [8, 16], true);
    expect(wv.some((v) => v === -8)).toBe(true);
    // 16 terms of at most 448 · 8 with 4-bit significands: partial sums may still round, so compare to the bound
    expectWithinBound(got, want, { ...c, bound: c.bound.map((b, i) => b / (c.inputs['b']!.data[Math.floor(i / 8)]! * c.inputs['d']!.data[i % 8]!)) }, 16);
  });
});
