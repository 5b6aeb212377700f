import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { node, type Node } from '../../../ir/node.ts';
import { packNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { GXX } from './emulate/emulate.ts';
import { emulatedError, f32, input, rng } from './harness.ts';

/*
 * No GPU here, so the emitted kernels run on the CPU: g++ compiles each kernel's own source against
 * emulate/cuda-host.h (a block = threads with barriers; warp shuffles and the warp mma exchange through block
 * slots, the mma by the PTX fragment layouts) and the result is compared with the CPU reference. This checks
 * tiling, indexing, nibble widening, bounds, reductions and fused epilogues/prologues; it cannot check the real
 * mma instruction or timing (that needs an NVIDIA device: vdit issue 6, runtime slice).
 */

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-emu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ints = (r: () => number, n: number, bits: number): number[] =>
  Array.from({ length: n }, () => -(2 ** (bits - 1)) + Math.floor(r() * 2 ** bits));

interface Case {
  readonly n: Node;
  readonly inputs: Record<string, Tensor>;
  /** max |got − want| / max(1, |want|) */
  readonly rtol: number;
}

/** A node over `input` leaves named after `inputs`' keys, in that order. */
function caseOf(op: Parameters<typeof node>[0], inputs: Record<string, Tensor>, attrs: Record<string, unknown>, rtol: number): Case {
  const leaves = Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
  return { n: node(op, leaves, attrs as never), inputs, rtol };
}

function qgemmCase(abits: number, [B, T, K, N]: readonly [number, number, number, number], epi: { act?: string; bias?: boolean; gate?: boolean; residual?: boolean }): Case {
  const r = rng(1000 + K);
  const inputs: Record<string, Tensor> = {
    a: tensor({ dtype: 'i8', shape: [B, T, K] }, Int8Array.from(ints(r, B * T * K, abits))),
    b: f32(r, [B, T, 1], 0.001, 0.03),
    c: tensor({ dtype: 'i4', shape: [N, K] }, packNibbles(ints(r, N * K, 4), [N, K])),
    d: f32(r, [N, 1], 0.001, 0.05),
    ...(epi.bias ? { e: f32(r, [N], -1, 1) } : {}),
    ...(epi.gate ? { g: f32(r, [B, N]) } : {}),
    ...(epi.residual ? { h: f32(r, [B, T, N], -3, 3) } : {}),
  };
  const attrs = { abits, wbits: 4, act: epi.act ?? 'none', ...(epi.gate ? { gate: true } : {}), ...(epi.residual ? { residual: true } : {}) };
  // the i32 sum is exact and each f32 step rounds as the reference's does; gelu: host tanhf vs Math.tanh, ~1 ulp
  return caseOf('qgemm', inputs, attrs, epi.act && epi.act !== 'none' ? 2e-6 : 0);
}

const r = rng(7);
const CASES: Record<string, Case> = {
  // odd M, N and K: partial tiles, a K tail inside a 32-step and i8 rows padded to whole words
  'qgemm W4A8 odd shape': qgemmCase(8, [3, 5, 45, 20], {}),
  'qgemm W4A4 + bias + gate + residual': qgemmCase(4, [2, 37, 64, 29], { bias: true, gate: true, residual: true }),
  'qgemm W4A6 + bias + gelu_tanh': qgemmCase(6, [2, 9, 96, 40], { act: 'gelu_tanh', bias: true }),
  // f32 sums in another order than the reference: a few ulps of the sum's magnitude
  'linear (partial tiles)': caseOf('linear', { x: f32(r, [3, 23, 70]), w: f32(r, [90, 70]), b: f32(r, [90]) }, {}, 2e-5),
  'matmul (broadcast batch)': caseOf('matmul', { a: f32(r, [3, 2, 17, 33]), b: f32(r, [2, 33, 70]) }, {}, 2e-5),
  'attention + additive mask (Nk not a tile multiple)': caseOf('attention', {
    q: f32(r, [2, 2, 70, 24]), k: f32(r, [2, 2, 45, 24]), v: f32(r, [2, 2, 45, 20]), m: f32(r, [45]),
  }, { scale: 0.3 }, 2e-5),
  'layernorm affine': caseOf('layernorm', { x: f32(r, [5, 100]), w: f32(r, [100]), b: f32(r, [100]) }, { eps: 1e-5 }, 2e-5),
  'softmax (middle axis)': caseOf('softmax', { x: f32(r, [3, 40, 5]) }, { axis: 1 }, 2e-6),
  'reduce_sum two axes': caseOf('reduce_sum', { x: f32(r, [4, 30, 6]) }, { axes: [0, 2], keepdims: false }, 2e-6),
  'fused silu(add) with broadcast': caseOf('fused', { x: f32(r, [2, 7, 33]), y: f32(r, [7, 1]) }, { expr: 'silu(add($0, $1))' }, 2e-6),
  // a flag per batch picks a side: each side loads its own operands only (render-expr.ts), the values exact
  'fused where on a per-batch flag': caseOf('fused', { m: tensor({ dtype: 'f32', shape: [2, 1, 1] }, Float32Array.of(1, 0)),
    a: f32(r, [2, 7, 33]), b: f32(r, [2, 7, 33]), c: f32(r, [7, 33]) },
  { expr: 'where(cast{to="bool"}($0), sub($1, $2), add($2, $3))' }, 0),
  'rope3d with text tokens': caseOf('rope3d', { x: f32(r, [1, 2, 20, 16]) },
    { grid: [1, 4, 4], dims: [4, 6, 6], theta: 10000, offset: 4 }, 2e-6),
  'permute': caseOf('permute', { x: f32(r, [3, 4, 5, 6]) }, { perm: [2, 0, 3, 1] }, 0),
  // Δ = max|v| / qmax after layernorm + modulate: the norm statistics sum in another order, a few ulps
  'token_scale (layernorm + modulate prologue)': caseOf('token_scale',
    { x: f32(r, [2, 6, 64]), s: f32(r, [2, 64], -0.5, 0.5), c: f32(r, [2, 64], -0.5, 0.5) },
    { bits: 8, norm: 'layernorm', eps: 1e-6, modulate: true }, 1e-5),
  'token_scale{clip}': caseOf('token_scale', { x: f32(r, [3, 50]) }, { bits: 6, clip: Math.fround(0.85) }, 0),
  // v / Δ at a fixed Δ with an elementwise prologue: exact unless a value sits within an ulp of a half-integer
  'quantize (expr prologue, K not a word multiple)': caseOf('quantize', { x: f32(r, [3, 37]), e: f32(r, [37]), d: f32(r, [3, 1], 0.01, 0.02) },
    { bits: 8, expr: 'mul($0, $1)' }, 0),
};

describe.skipIf(!GXX)('CUDA kernels emulated on the CPU vs the reference (needs g++)', () => {
  it.each(Object.keys(CASES))('%s', (name) => {
    const c = CASES[name]!;
    const { worst, want } = emulatedError(c.n, c.inputs, join(dir, name.replace(/[^a-z0-9]+/gi, '_')));
    expect(worst).toBeLessThanOrEqual(c.rtol);
    // not vacuous: the result has signal
    expect(Array.from(want.data as ArrayLike<number>).some((v) => Math.abs(v) > 1e-3)).toBe(true);
  }, 120_000);
});
