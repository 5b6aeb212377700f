import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeE4m3 } from '../../../ir/fp8.ts';
import { node, type Node } from '../../../ir/node.ts';
import { packNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { lowerCudaQgemmFp8 } from '../../../targets/cuda/kernels/qgemm-fp8.ts';
import { lowerCudaQgemmMma } from '../../../targets/cuda/kernels/qgemm-mma.ts';
import { CUDA_SMS, QGEMM_TILES, qgemmTile, tileLayout, type QgemmTile } from '../../../targets/cuda/kernels/qgemm-pipeline.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import { emulateKernel, GXX } from './emulate/emulate.ts';
import { CTX, f32, input, NVCC, nvccCompile, reference, randomCodes, rng } from './harness.ts';

/*
 * The pipelined tensor-core qgemm (targets/cuda/kernels/qgemm-pipeline.ts) with both block tiles forced on small
 * shapes that hit every edge: M = 1, 37, 130, 200 (partial block and warp tiles), N = 8, 24, 136, K from one chunk
 * to nine (4 stages wrapped twice), rows whose byte length takes 16-, 8- and 4-byte cp.async copies, W4A8/A6/A4,
 * i8 weights and FP8 activations. g++ runs them through emulate/cuda-host.h (cp.async copies synchronously there;
 * the barriers and stage indexing are the real ones). s8: the i32 sums are exact, so outputs equal the reference's
 * bit for bit (gelu: host tanhf, ~1 ulp); e4m3: within the f32 summation bound, as in qgemm-fp8.test.ts.
 */

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-qgemm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ints = (r: () => number, n: number, bits: number): number[] =>
  Array.from({ length: n }, () => -(2 ** (bits - 1)) + Math.floor(r() * 2 ** bits));

interface Epi { bias?: boolean; act?: string; gate?: boolean; residual?: boolean }
interface Case {
  readonly abits: number;
  readonly w: 'i4' | 'i8';
  /** B, T, K, N */
  readonly shape: readonly [number, number, number, number];
  readonly tile: QgemmTile;
  readonly epi?: Epi;
}

/** A qgemm over `input` leaves; x holds e4m3 codes when `fp8`. */
function qgemmCase({ abits, w, shape: [B, T, K, N], epi = {} }: Case, fp8: boolean):
{ n: Node; inputs: Record<string, Tensor>; wv: number[] } {
  const r = rng(B * 7919 + T * 131 + K * 17 + N);
  const a = fp8 ? randomCodes(r, B * T * K) : Int8Array.from(ints(r, B * T * K, abits));
  const wv = ints(r, N * K, w === 'i4' ? 4 : 8);
  const inputs: Record<string, Tensor> = {
    a: tensor({ dtype: 'i8', shape: [B, T, K] }, a),
    b: f32(r, [B, T, 1], 0.001, 0.03),
    c: w === 'i4' ? tensor({ dtype: 'i4', shape: [N, K] }, packNibbles(wv, [N, K])) : tensor({ dtype: 'i8', shape: [N, K] }, Int8Array.from(wv)),
    d: f32(r, [N, 1], 0.001, 0.05),
    ...(epi.bias ? { e: f32(r, [N], -1, 1) } : {}),
    ...(epi.gate ? { g: f32(r, [B, N]) } : {}),
    ...(epi.residual ? { h: f32(r, [B, T, N], -3, 3) } : {}),
  };
  const attrs = { abits, wbits: w === 'i4' ? 4 : 8, act: epi.act ?? 'none', ...(fp8 ? { aformat: 'e4m3' } : {}),
    ...(epi.gate ? { gate: true } : {}), ...(epi.residual ? { residual: true } : {}) };
  const leaves = Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
  return { n: node('qgemm', leaves, attrs as never), inputs, wv };
}

function emulate(n: Node, inputs: Record<string, Tensor>, tile: QgemmTile, name: string): [Tensor, Tensor] {
  const k = n.attrs['aformat'] === 'e4m3' ? lowerCudaQgemmFp8(n, CTX, tile) : lowerCudaQgemmMma(n, CTX, tile);
  const operands = n.src.map((s) => inputs[s.attrs['name'] as string]!);
  return [emulateKernel(k, n, operands, join(dir, name)), reference(n, inputs)];
}

const { large, small } = QGEMM_TILES;
const S8: [string, Case][] = [
  ['M = 1, N = 8, K = 32: one chunk, stages left empty', { abits: 8, w: 'i4', shape: [1, 1, 32, 8], tile: small }],
  ['M = 1, N = 136, K = 200: 8-byte x and 4-byte weight copies', { abits: 8, w: 'i4', shape: [1, 1, 200, 136], tile: large }],
  ['M = 37, N = 24, K = 96, W4A4 + bias + gate + residual',
    { abits: 4, w: 'i4', shape: [1, 37, 96, 24], tile: large, epi: { bias: true, gate: true, residual: true } }],
  ['M = 37, N = 8, K = 517: 9 chunks wrap the 4 stages, padded rows',
    { abits: 8, w: 'i4', shape: [1, 37, 517, 8], tile: small }],
  ['M = 130, N = 136, K = 160, W4A6 + bias + gelu_tanh',
    { abits: 6, w: 'i4', shape: [2, 65, 160, 136], tile: small, epi: { bias: true, act: 'gelu_tanh' } }],
  ['M = 200, N = 136, K = 200, W4A8', { abits: 8, w: 'i4', shape: [2, 100, 200, 136], tile: large }],
  ['M = 200, N = 24, K = 200, W8A8 (i8 weights, 3 stages) + bias',
    { abits: 8, w: 'i8', shape: [2, 100, 200, 24], tile: large, epi: { bias: true } }],
  ['M = 130, N = 8, K = 75, W8A6 (padded rows, 4-byte x copies)', { abits: 6, w: 'i8', shape: [2, 65, 75, 8], tile: small }],
];
const FP8: [string, Case][] = [
  ['M = 200, N = 136, K = 200', { abits: 8, w: 'i4', shape: [2, 100, 200, 136], tile: large }],
  ['M = 37, N = 24, K = 96, bias + gelu_tanh + gate + residual',
    { abits: 8, w: 'i4', shape: [1, 37, 96, 24], tile: small, epi: { bias: true, act: 'gelu_tanh', gate: true, residual: true } }],
];

describe('pipelined qgemm tiles', () => {
  it('takes the 128 × 128 tile when it fills the card, 64 × 64 otherwise', () => {
    expect(qgemmTile(17776, 1920)).toBe(large);
    expect(qgemmTile(2 * 17776, 7680)).toBe(large);
    expect(qgemmTile(200, 136)).toBe(small);
    expect(Math.ceil(1024 / 128) * Math.ceil(2048 / 128)).toBeLessThan(CUDA_SMS);
    expect(qgemmTile(1024, 2048)).toBe(small);
  });

  it('stages as many k-chunks as fit 48 KiB of static shared memory, at most 4', () => {
    expect(tileLayout(large, 'i4')).toEqual({ threads: 256, mi: 4, ni: 4, stages: 4, bRow: 32 });
    expect(tileLayout(large, 'i8')).toMatchObject({ stages: 3, bRow: 64 });
    expect(tileLayout(small, 'i4')).toEqual({ threads: 128, mi: 2, ni: 4, stages: 4, bRow: 32 });
    const k = lowerCudaQgemmMma(qgemmCase(S8[5]![1], false).n, CTX, large);
    expect(k.block[0]).toBe(256);
    expect(k.grid[0]).toBe(2 * 2);
    expect(k.source).toContain('__shared__ uint4 sa[4][512];');
    expect(k.source).toContain('vdit_cp_async<8>(');
    expect(k.source).toContain('vdit_cp_async_wait<2>();');
  });

  it('rejects a problem whose offsets overflow 32 bits', () => {
    const n = node('qgemm', [input('x', 'i8', [70000, 65536]), input('dx', 'f32', [70000, 1]), input('w', 'i4', [64, 65536]),
      input('dw', 'f32', [64, 1])], { abits: 8, wbits: 4 });
    expect(() => lowerCudaNode(n, CTX)).toThrow("overflows the kernels' 32-bit offsets");
  });

  it.skipIf(!NVCC)('both tiles compile with nvcc -arch=sm_90a: s8 (i4, i8 weights) and e4m3 at cogvideox shapes', () => {
    const cog = (w: 'i4' | 'i8', extra: Record<string, unknown>): Node => node('qgemm', [input('x', 'i8', [17776, 1920]),
      input('dx', 'f32', [17776, 1]), input('w', w, [7680, 1920]), input('dw', 'f32', [7680, 1]), input('b', 'f32', [7680])],
    { abits: 8, wbits: w === 'i4' ? 4 : 8, act: 'gelu_tanh', ...extra } as never);
    const ks = [large, small].flatMap((t) => [lowerCudaQgemmMma(cog('i4', {}), CTX, t), lowerCudaQgemmMma(cog('i8', {}), CTX, t),
      lowerCudaQgemmFp8(cog('i4', { aformat: 'e4m3' }), CTX, t)]);
    expect(() => nvccCompile(ks)).not.toThrow();
  }, 300_000);
});

describe.skipIf(!GXX)('pipelined qgemm emulated on the CPU vs the reference (needs g++)', () => {
  it.each(S8)('s8 %s: equal to the reference', (name, c) => {
    const { n, inputs } = qgemmCase(c, false);
    const [got, want] = emulate(n, inputs, c.tile, `s8_${c.shape.join('_')}_${c.tile.m}`);
    const rtol = c.epi?.act ? 2e-6 : 0;
    let worst = 0;
    want.data.forEach((w, i) => { worst = Math.max(worst, Math.abs(Number(got.data[i]) - w) / Math.max(1, Math.abs(w))); });
    expect(worst).toBeLessThanOrEqual(rtol);
    expect(Array.from(want.data).filter((v) => v !== 0).length).toBeGreaterThan(want.data.length / 2);
  }, 180_000);

  it.each(FP8)('e4m3 %s: within the f32 summation bound', (name, c) => {
    const { n, inputs, wv } = qgemmCase(c, true);
    const [B, T, K, N] = c.shape;
    const [got, want] = emulate(n, inputs, c.tile, `fp8_${c.shape.join('_')}_${c.tile.m}`);
    let worst = 0;
    const slack = c.epi?.act ? 2 : 1;
    want.data.forEach((w, i) => {
      const m = Math.floor(i / N), j = i % N;
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.abs(decodeE4m3(inputs['a']!.data[m * K + k]!) * wv[j * K + k]!);
      const bound = s * inputs['b']!.data[m]! * inputs['d']!.data[j]!;
      const gate = c.epi?.gate ? Math.abs(inputs['g']!.data[Math.floor(m / T) * N + j]!) : 1;
      const tol = 2 ** -24 * slack * ((K + 4) * bound * Math.max(1, gate) + 4 * Math.abs(w) + 4);
      worst = Math.max(worst, Math.abs(Number(got.data[i]) - w) / tol);
    });
    expect(worst).toBeLessThanOrEqual(1);
    expect(Array.from(want.data).some((v) => Math.abs(v) > 1e-3)).toBe(true);
    expect(B * T).toBe(want.data.length / N);
  }, 180_000);
});
