import { describe, expect, it } from 'vitest';
import { node, type Node } from '../../../ir/node.ts';
import { numel, type Shape } from '../../../ir/types.ts';
import { packNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import type { LowerContext } from '../../../targets/target.ts';
import type { KernelSpec } from '../../../targets/wgsl/kernel.ts';
import { lowerQgemmTiled } from '../../../targets/wgsl/kernels/qgemm-dp4a.ts';
import { lowerQgemmDirect } from '../../../targets/wgsl/kernels/qgemm-f32.ts';
import { expectClose, gpuCtx, hasGpu, input, lowerCtx, reference, rng, runBoth, runKernel } from './harness.ts';

/*
 * qgemm epilogues (act, gate, residual) on the dp4a and f32 (direct, no DP4A) kernels, and token_scale / quantize
 * with a producer prologue (layernorm + modulate, an affine rmsnorm, an elementwise expr), against the CPU reference.
 */

type Lower = (n: Node, ctx: LowerContext) => KernelSpec;
const hasDp4a = gpuCtx?.caps.wgslFeatures.has('packed_4x8_integer_dot_product') === true;
const VARIANTS: [string, Lower, boolean][] = [
  ['tiled dp4a', (n, c) => lowerQgemmTiled(n, c, 'dp4a'), hasDp4a],
  ['direct dp4a', (n, c) => lowerQgemmDirect(n, c, 'dp4a'), hasDp4a],
  ['direct soft (f32 fallback)', (n, c) => lowerQgemmDirect(n, c, 'soft'), true],
];

// an exact i32 sum, three f32 roundings, bias, GELU (the WGSL erf is A&S 7.1.26, |err| < 1.5e-7; tanh is the
// builtin), one gate product and one residual add: a few f32 ulps of O(1) values
const TOL_EPI = { rtol: 2e-5, atol: 2e-6 };

function f32(r: () => number, shape: Shape, lo: number, hi: number): Tensor {
  return tensor({ dtype: 'f32', shape }, Float32Array.from({ length: numel(shape) }, () => lo + r() * (hi - lo)));
}

function ints(r: () => number, n: number, bits: number): number[] {
  return Array.from({ length: n }, () => -(2 ** (bits - 1)) + Math.floor(r() * 2 ** bits));
}

interface EpiCase {
  readonly act: 'none' | 'gelu_tanh' | 'gelu_erf';
  readonly gate: boolean;
  readonly residual: boolean;
  readonly bias: boolean;
}

function epiCase(c: EpiCase, seed: number, [B, T, K, N] = [2, 37, 45, 29]): { n: Node; inputs: Record<string, Tensor> } {
  const r = rng(seed);
  const inputs: Record<string, Tensor> = {
    a: tensor({ dtype: 'i8', shape: [B, T, K] }, Int8Array.from(ints(r, B * T * K, 6))),
    b: f32(r, [B, T, 1], 0.001, 0.03),
    c: tensor({ dtype: 'i4', shape: [N, K] }, packNibbles(ints(r, N * K, 4), [N, K])),
    d: f32(r, [N, 1], 0.001, 0.05),
  };
  if (c.bias) inputs['e'] = f32(r, [N], -1, 1);
  if (c.gate) inputs['g'] = f32(r, [B, N], -2, 2);
  if (c.residual) inputs['r'] = f32(r, [B, T, N], -3, 3);
  const leaves = Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
  const attrs = { abits: 6, wbits: 4, act: c.act, ...(c.gate ? { gate: true } : {}), ...(c.residual ? { residual: true } : {}) };
  return { n: node('qgemm', leaves, attrs), inputs };
}

const EPI_CASES: [string, EpiCase][] = [
  ['gelu_tanh + bias', { act: 'gelu_tanh', gate: false, residual: false, bias: true }],
  ['gelu_erf, no bias', { act: 'gelu_erf', gate: false, residual: false, bias: false }],
  ['gate + residual (adaLN-Zero), no bias', { act: 'none', gate: true, residual: true, bias: false }],
  ['bias + gelu_tanh + gate + residual', { act: 'gelu_tanh', gate: true, residual: true, bias: true }],
];

describe.skipIf(!hasGpu)('wgsl qgemm epilogue on Dawn vs the CPU reference', () => {
  VARIANTS.forEach(([vname, lower, ok], vi) => {
    EPI_CASES.forEach(([cname, c], ci) => {
      it.skipIf(!ok)(`${vname}: ${cname}`, async () => {
        const { n, inputs } = epiCase(c, 900 + 10 * vi + ci);
        const spec = lower(n, lowerCtx('f32'));
        const got = await runKernel(spec, n.src.map((s) => inputs[s.attrs['name'] as string]!), n.type, 'f32');
        const want = reference(n, inputs);
        expectClose(got, want, TOL_EPI);
        // the epilogue really ran: the plain qgemm differs
        const base = n.src.slice(0, c.bias ? 5 : 4);
        const baseInputs = Object.fromEntries(base.map((s) => [s.attrs['name'] as string, inputs[s.attrs['name'] as string]!]));
        const plain = reference(node('qgemm', base, { abits: 6, wbits: 4 }), baseInputs);
        expect(Array.from(plain.data).some((v, i) => Math.abs(v - want.data[i]!) > 1e-3)).toBe(true);
      });
    });
  });
});

function leavesOf(inputs: Record<string, Tensor>): Node[] {
  return Object.keys(inputs).map((k) => input(k, inputs[k]!.type.dtype, inputs[k]!.type.shape));
}

interface ChainCase {
  readonly attrs: Record<string, string | number | boolean>;
  readonly inputs: (r: () => number) => Record<string, Tensor>;
}

const [B, T, D] = [2, 7, 70];
const CHAINS: [string, ChainCase][] = [
  ['layernorm + modulate (adaLN, D = 70: a padded word)', {
    attrs: { norm: 'layernorm', eps: 1e-6, modulate: true },
    inputs: (r) => ({ h: f32(r, [B, T, D], -4, 4), sh: f32(r, [B, D], -1, 1), sc: f32(r, [B, D], -1, 1) }),
  }],
  ['affine rmsnorm', {
    attrs: { norm: 'rmsnorm', eps: 1e-5, affine: 1 },
    inputs: (r) => ({ h: f32(r, [B, T, D], -4, 4), w: f32(r, [D], 0.5, 1.5) }),
  }],
  ['elementwise expr (gelu of a biased value)', {
    attrs: { expr: 'gelu{approx="tanh"}(add($0, $1))' },
    inputs: (r) => ({ h: f32(r, [B, T, D], -3, 3), b: f32(r, [D], -1, 1) }),
  }],
];

describe.skipIf(!hasGpu)('wgsl token_scale / quantize with a producer prologue vs the CPU reference', () => {
  CHAINS.forEach(([cname, c], ci) => {
    for (const bits of [6, 8]) {
      it(`${cname}, bits=${bits}: Δ within 1e-6, i8 values exact`, async () => {
        const inputs = c.inputs(rng(950 + 10 * ci + bits));
        const leaves = leavesOf(inputs);
        const ts = node('token_scale', leaves, { bits, ...c.attrs });
        const [gotS, wantS, specS] = await runBoth(ts, inputs);
        expect(specS.name).toBe('token_scale_chain');
        expectClose(gotS, wantS, { rtol: 1e-6, atol: 0 });
        // quantize against the reference's own Δ, so its i8 values are compared on equal terms
        const withD = { ...inputs, delta: wantS };
        const q = node('quantize', [...leaves, input('delta', 'f32', wantS.type.shape)], { bits, ...c.attrs });
        const [gotQ, wantQ, specQ] = await runBoth(q, withD);
        expect(specQ.name).toBe('quantize_chain');
        expect(Array.from(gotQ.data)).toEqual(Array.from(wantQ.data));
        const qm = 2 ** (bits - 1) - 1;
        expect(Math.max(...Array.from(wantQ.data, Math.abs))).toBeGreaterThanOrEqual(qm - 1);
      });
    }
  });
});
