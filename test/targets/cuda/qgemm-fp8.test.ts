import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeE4m3 } from '../../../ir/fp8.ts';
import { node, type Node } from '../../../ir/node.ts';
import { packNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import { emulateKernel, GXX } from './emulate/emulate.ts';
import { CTX, f32, golden, input, NVCC, nvccCompile, reference, randomCodes, rng } from './harness.ts';

/*
 * W4A8-FP8 on CUDA: qgemm{aformat=e4m3} on FP8 tensor cores (targets/cuda/kernels/qgemm-fp8.ts) and the e4m3
 * token_scale / quantize / dequantize (kernels/quantize.ts). nvcc -arch=sm_90a compiles them (the mma.sync .e4m3
 * instruction needs sm_89+); g++ runs them through emulate/cuda-host.h, whose FP8 mma sums the exact products in
 * f32 (the real instruction's accumulation precision is the device's: only a GPU run can check it). qgemm is
 * compared with the reference within the f32 summation bound 2^−24 · ((K + 4) · Σ|x·w| · Δx Δw + 4 |ref|); the QDQ
 * ops bit for bit.
 */

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-fp8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const leaves = (inputs: Record<string, Tensor>): Node[] =>
  Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));

interface Epi { bias?: boolean; act?: string; gate?: boolean; residual?: boolean }

function qgemmCase([B, T, K, N]: readonly [number, number, number, number], seed: number, epi: Epi = {}):
{ n: Node; inputs: Record<string, Tensor>; bound: Float64Array } {
  const r = rng(seed);
  const codes = randomCodes(r, B * T * K);
  const wv = Array.from({ length: N * K }, () => Math.floor(r() * 16) - 8);
  const inputs: Record<string, Tensor> = {
    a: tensor({ dtype: 'i8', shape: [B, T, K] }, codes),
    b: f32(r, [B, T, 1], 0.001, 0.03),
    c: tensor({ dtype: 'i4', shape: [N, K] }, packNibbles(wv, [N, K])),
    d: f32(r, [N, 1], 0.001, 0.05),
    ...(epi.bias ? { e: f32(r, [N], -1, 1) } : {}),
    ...(epi.gate ? { g: f32(r, [B, N]) } : {}),
    ...(epi.residual ? { h: f32(r, [B, T, N], -3, 3) } : {}),
  };
  const bound = new Float64Array(B * T * N);
  for (let m = 0; m < B * T; m++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.abs(decodeE4m3(codes[m * K + k]!) * wv[j * K + k]!);
      bound[m * N + j] = s * inputs['b']!.data[m]! * inputs['d']!.data[j]!;
    }
  }
  const attrs = { abits: 8, wbits: 4, aformat: 'e4m3', act: epi.act ?? 'none',
    ...(epi.gate ? { gate: true } : {}), ...(epi.residual ? { residual: true } : {}) };
  return { n: node('qgemm', leaves(inputs), attrs), inputs, bound };
}

function emulate(n: Node, inputs: Record<string, Tensor>, name: string): [Tensor, Tensor] {
  const operands = n.src.map((s) => inputs[s.attrs['name'] as string]!);
  return [emulateKernel(lowerCudaNode(n, CTX), n, operands, join(dir, name)), reference(n, inputs)];
}

const GOLDEN_NODE = qgemmCase([2, 8, 64, 48], 1, { bias: true, act: 'gelu_tanh', gate: true, residual: true }).n;
const r0 = rng(2);
const X = input('x', 'f32', [2, 8, 64]);
const QDQ: Record<string, Node> = {
  token_scale_e4m3: node('token_scale', [X], { bits: 8, format: 'e4m3' }),
  quantize_e4m3: node('quantize', [X, input('d', 'f32', [2, 8, 1])], { bits: 8, format: 'e4m3' }),
  quantize_e4m3_prologue: node('quantize', [X, input('s', 'f32', [2, 64]), input('c', 'f32', [2, 64]),
    input('d', 'f32', [2, 8, 1])], { bits: 8, format: 'e4m3', norm: 'layernorm', eps: 1e-6, modulate: true }),
  dequantize_e4m3: node('dequantize', [input('q', 'i8', [5, 7]), input('d', 'f32', [5, 1])], { format: 'e4m3' }),
};

describe('CUDA W4A8-FP8 emission', () => {
  const k = lowerCudaNode(GOLDEN_NODE, CTX);

  it('emits stable source for the FP8 qgemm with the full epilogue (golden)', () => {
    expect(k.source).toBe(golden('qgemm_fp8_w4a8_gelu_gate_res', k.source));
  });

  it('runs the e4m3 MMA with int4 weights widened to e4m3 in registers, accumulating in f32', () => {
    expect(k.name).toBe('qgemm_fp8_w4a8');
    expect(k.source).toContain('mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32');
    expect(k.source).toContain('vdit_i4x4_to_e4m3x4(w.x, 0)');
    expect(k.source).toContain('float c[2][4][4] = {};');
    expect(k.params.slice(0, 4)).toEqual(['const signed char*', 'const float*', 'const unsigned*', 'const float*']);
    const int = lowerCudaNode(node('qgemm', GOLDEN_NODE.src, { abits: 8, wbits: 4, act: 'gelu_tanh', gate: true,
      residual: true }), CTX);
    expect(int.name).toBe('qgemm_mma_w4a8');
    expect(lowerCudaNode(QDQ['quantize_e4m3']!, CTX).source).toContain('vdit_e4m3(__fdiv_rn(');
  });

  it.skipIf(!NVCC)('compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    expect(() => nvccCompile([k, ...Object.values(QDQ).map((n) => lowerCudaNode(n, CTX))])).not.toThrow();
  }, 300_000);
});

describe.skipIf(!GXX)('CUDA W4A8-FP8 kernels emulated on the CPU vs the reference (needs g++)', () => {
  const SHAPES: [string, [number, number, number, number], Epi][] = [
    ['odd shape (partial tiles, K = 45 inside one 32-step pair)', [3, 5, 45, 20], {}],
    ['K = 300, bias + gelu_tanh + gate + residual', [2, 9, 300, 40],
      { bias: true, act: 'gelu_tanh', gate: true, residual: true }],
  ];
  it.each(SHAPES)('qgemm{aformat=e4m3} %s: within the f32 summation bound', (name, shape, epi) => {
    const c = qgemmCase(shape, 10 + shape[2], epi);
    const [got, want] = emulate(c.n, c.inputs, `qgemm_${shape.join('_')}`);
    let worst = 0;
    // gelu (slope ≤ 1.13), gate and residual add a few roundings of their own: slack 2 then
    const slack = epi.act ? 2 : 1;
    want.data.forEach((w, i) => {
      const g = epi.gate ? Math.abs(c.inputs['g']!.data[Math.floor(i / (shape[1] * shape[3])) * shape[3] + (i % shape[3])]!) : 1;
      const tol = 2 ** -24 * slack * ((shape[2] + 4) * c.bound[i]! * Math.max(1, g) + 4 * Math.abs(w) + 4);
      worst = Math.max(worst, Math.abs(Number(got.data[i]) - w) / tol);
    });
    expect(worst).toBeLessThanOrEqual(1);
    expect(Array.from(want.data).some((v) => Math.abs(v) > 1e-3)).toBe(true);
  }, 120_000);

  it('token_scale, quantize (plain and with a layernorm + modulate prologue) and dequantize in e4m3', () => {
    const x = f32(r0, [2, 8, 64], -3, 3);
    const [gotS, wantS] = emulate(QDQ['token_scale_e4m3']!, { x }, 'ts');
    expect(Array.from(gotS.data)).toEqual(Array.from(wantS.data));
    // Δ below max/448 for half the rows: those saturate; tiny values reach the subnormal codes
    const d = tensor({ dtype: 'f32', shape: [2, 8, 1] }, Float32Array.from(wantS.data, (v, i) => (i % 2 ? v : v / 4)));
    x.data[5] = 1e-5;
    const [gotQ, wantQ] = emulate(QDQ['quantize_e4m3']!, { x, d }, 'q');
    expect(Array.from(gotQ.data)).toEqual(Array.from(wantQ.data));
    expect(Array.from(wantQ.data).filter((c) => (c & 0x7f) === 0x7e).length).toBeGreaterThan(8);
    const mod = { x, s: f32(r0, [2, 64], -0.5, 0.5), c: f32(r0, [2, 64], -0.5, 0.5), d: f32(r0, [2, 8, 1], 0.002, 0.01) };
    const [gotP, wantP] = emulate(QDQ['quantize_e4m3_prologue']!, mod, 'qp');
    // the norm statistics sum in another order (a few ulps of v): codes equal or one e4m3 step apart
    Array.from(wantP.data).forEach((w, i) => expect(Math.abs(decodeE4m3(w) - decodeE4m3(gotP.data[i]!)))
      .toBeLessThanOrEqual(Math.abs(decodeE4m3(w)) / 8 + 2 ** -9));
    const q = tensor({ dtype: 'i8', shape: [5, 7] }, randomCodes(r0, 35));
    const [gotD, wantD] = emulate(QDQ['dequantize_e4m3']!, { q, d: f32(r0, [5, 1], 0.5, 2) }, 'dq');
    expect(Array.from(gotD.data)).toEqual(Array.from(wantD.data));
  }, 240_000);
});
