import { describe, expect, it } from 'vitest';
import { node, type Node } from '../../../ir/node.ts';
import { numel, type Shape } from '../../../ir/types.ts';
import { packNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { DEFAULT_CAPS, type DeviceCaps, type LowerContext } from '../../../targets/target.ts';
import type { KernelSpec } from '../../../targets/wgsl/kernel.ts';
import { lowerQgemmTiled } from '../../../targets/wgsl/kernels/qgemm-dp4a.ts';
import { lowerQgemmDirect } from '../../../targets/wgsl/kernels/qgemm-f32.ts';
import { lowerQgemmSgmat, sgmatSupport } from '../../../targets/wgsl/kernels/qgemm-sgmat.ts';
import { chooseVariant, lowerNode, qgemmVariant } from '../../../targets/wgsl/select.ts';
import { expectClose, gpuCtx, hasGpu, input, lowerCtx, reference, rng, runKernel } from './harness.ts';

type Lower = (n: Node, ctx: LowerContext) => KernelSpec;
const hasDp4a = gpuCtx?.caps.wgslFeatures.has('packed_4x8_integer_dot_product') === true;
const sgmatOk = gpuCtx ? sgmatSupport(gpuCtx.caps).ok : false;

// every variant, forced; the DP4A ones need the WGSL language feature
const VARIANTS: [string, Lower, boolean][] = [
  ['tiled dp4a', (n, c) => lowerQgemmTiled(n, c, 'dp4a'), hasDp4a],
  ['tiled soft', (n, c) => lowerQgemmTiled(n, c, 'soft'), true],
  ['direct soft (f32 fallback)', (n, c) => lowerQgemmDirect(n, c, 'soft'), true],
  ['direct dp4a', (n, c) => lowerQgemmDirect(n, c, 'dp4a'), hasDp4a],
];

interface Case {
  readonly x: Shape;
  readonly n: number;
  readonly w: 'i4' | 'i8';
  readonly abits: 4 | 6 | 8;
  /** Δx = Δw = 1 and no bias: the output is the exact integer sum */
  readonly unit?: boolean;
  /** draw values from the top of the range only, so sums pass 2^24 (where an f32 accumulator goes inexact) */
  readonly large?: boolean;
}

function ints(r: () => number, n: number, bits: number, large = false): number[] {
  const lo = -(2 ** (bits - 1));
  const span = 2 ** bits;
  return Array.from({ length: n }, () => (large ? 2 ** (bits - 1) - 1 - Math.floor(r() * 4) : lo + Math.floor(r() * span)));
}

function floats(r: () => number, shape: Shape, lo: number, hi: number): Tensor {
  return tensor({ dtype: 'f32', shape }, Float32Array.from({ length: numel(shape) }, () => lo + r() * (hi - lo)));
}

function qgemmCase(c: Case, seed: number): { n: Node; inputs: Record<string, Tensor> } {
  const r = rng(seed);
  const k = c.x[c.x.length - 1]!;
  const rows = c.x.slice(0, -1);
  const wShape = [c.n, k];
  const wv = ints(r, c.n * k, c.w === 'i4' ? 4 : 8, c.large);
  const inputs: Record<string, Tensor> = {
    a: tensor({ dtype: 'i8', shape: c.x }, Int8Array.from(ints(r, numel(c.x), c.abits, c.large))),
    b: c.unit ? tensor({ dtype: 'f32', shape: [...rows, 1] }, new Float32Array(numel(rows)).fill(1))
      : floats(r, [...rows, 1], 0.001, 0.03),
    c: c.w === 'i8' ? tensor({ dtype: 'i8', shape: wShape }, Int8Array.from(wv))
      : tensor({ dtype: 'i4', shape: wShape }, packNibbles(wv, wShape)),
    d: c.unit ? tensor({ dtype: 'f32', shape: [c.n, 1] }, new Float32Array(c.n).fill(1))
      : floats(r, [c.n, 1], 0.001, 0.05),
  };
  if (!c.unit) inputs['e'] = floats(r, [c.n], -1, 1);
  const names = Object.keys(inputs);
  const leaves = names.map((nm) => input(nm, inputs[nm]!.type.dtype, inputs[nm]!.type.shape));
  return { n: node('qgemm', leaves, { abits: c.abits, wbits: c.w === 'i4' ? 4 : 8 }), inputs };
}

async function runWith(lower: Lower, c: Case, seed: number): Promise<[Tensor, Tensor]> {
  const { n, inputs } = qgemmCase(c, seed);
  const spec = lower(n, lowerCtx('f32'));
  const got = await runKernel(spec, n.src.map((s) => inputs[s.attrs['name'] as string]!), n.type, 'f32');
  return [got, reference(n, inputs)];
}

const EXACT: [string, Case][] = [
  ['W4A8 odd M,N, K=45 (not a multiple of 8)', { x: [37, 45], n: 29, w: 'i4', abits: 8, unit: true }],
  ['W8A8 batch dims [2,3,19,70], N=65', { x: [2, 3, 19, 70], n: 65, w: 'i8', abits: 8, unit: true }],
  ['W4A6 K=33 (odd word count), several tiles', { x: [70, 33], n: 130, w: 'i4', abits: 6, unit: true }],
  ['W4A4 K=8', { x: [5, 8], n: 3, w: 'i4', abits: 4, unit: true }],
  ['W8A4 K=3 (one partial word)', { x: [9, 3], n: 7, w: 'i8', abits: 4, unit: true }],
  ['W8A8 K=2051, sums past 2^24', { x: [3, 2051], n: 5, w: 'i8', abits: 8, unit: true, large: true }],
];

const SCALED: [string, Case][] = [
  ['W4A8 [2,21,77] N=40 with bias', { x: [2, 21, 77], n: 40, w: 'i4', abits: 8 }],
  ['W8A8 [67,64] N=66 with bias', { x: [67, 64], n: 66, w: 'i8', abits: 8 }],
  ['W4A6 [13,100] N=17 with bias', { x: [13, 100], n: 17, w: 'i4', abits: 6 }],
];

// scaled outputs: three f32 roundings after an exact sum, plus the bias add (cancellation near 0 needs atol)
const TOL_SCALED = { rtol: 1e-5, atol: 1e-6 };

describe.skipIf(!hasGpu)('wgsl qgemm on Dawn vs the CPU reference', () => {
  VARIANTS.forEach(([vname, lower, ok], vi) => {
    EXACT.forEach(([cname, c], ci) => {
      it.skipIf(!ok)(`${vname}: ${cname}: exact integer sum`, async () => {
        const [got, want] = await runWith(lower, c, 300 + 10 * vi + ci);
        expect(Array.from(got.data)).toEqual(Array.from(want.data));
        if (c.large) expect(Math.max(...Array.from(want.data, Math.abs))).toBeGreaterThan(2 ** 24);
        expect(Array.from(want.data).some((v) => v !== 0)).toBe(true);
      });
    });
    SCALED.forEach(([cname, c], ci) => {
      it.skipIf(!ok)(`${vname}: ${cname}: scales and bias within 1e-5`, async () => {
        const [got, want] = await runWith(lower, c, 400 + 10 * vi + ci);
        expectClose(got, want, TOL_SCALED);
      });
    });
  });

  it('the selected kernel (lowerNode) matches the reference', async () => {
    const { n, inputs } = qgemmCase({ x: [2, 17, 50], n: 33, w: 'i4', abits: 8 }, 500);
    const spec = lowerNode(n, lowerCtx('f32'));
    expect(spec.name).toMatch(/^qgemm_/);
    const got = await runKernel(spec, n.src.map((s) => inputs[s.attrs['name'] as string]!), n.type, 'f32');
    expectClose(got, reference(n, inputs), TOL_SCALED);
  });

  const why = 'needs chromium-experimental-subgroup-matrix with an i8→i32 16×16×32 config, absent on lavapipe';
  it.skipIf(!sgmatOk)(`subgroup-matrix kernel matches the reference [skipped unless available: ${why}]`, async () => {
    for (const [i, [, c]] of [...EXACT, ...SCALED].entries()) {
      const [got, want] = await runWith(lowerQgemmSgmat, c, 600 + i);
      expectClose(got, want, c.unit ? { rtol: 0, atol: 0 } : TOL_SCALED);
    }
  });
});

function caps(over: Partial<DeviceCaps>): DeviceCaps {
  return { ...DEFAULT_CAPS, ...over };
}

const SGMAT_CAPS = caps({
  features: new Set(['subgroups', 'chromium-experimental-subgroup-matrix']),
  wgslFeatures: new Set(['packed_4x8_integer_dot_product']),
  subgroupMinSize: 32,
  subgroupMaxSize: 32,
  subgroupMatrixConfigs: [
    { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 },
    { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 },
  ],
});

describe('qgemm kernel selection (hand-built caps, no GPU)', () => {
  const big = qgemmCase({ x: [4, 16, 96], n: 80, w: 'i4', abits: 8 }, 700).n;
  const small = qgemmCase({ x: [3, 96], n: 80, w: 'i4', abits: 8 }, 701).n;

  it('prefers tiled DP4A on GPUs (measured faster), then i8 subgroup matrices, then direct DP4A, then portable', () => {
    expect(qgemmVariant(big, SGMAT_CAPS)).toBe('dp4a');
    const noDp4a = caps({ ...SGMAT_CAPS, wgslFeatures: new Set() });
    expect(qgemmVariant(big, noDp4a)).toBe('sgmat');
    expect(qgemmVariant(small, noDp4a)).toBe('direct');
    const noI8 = caps({ ...SGMAT_CAPS, subgroupMatrixConfigs: SGMAT_CAPS.subgroupMatrixConfigs.slice(0, 1) });
    expect(qgemmVariant(big, noI8)).toBe('dp4a');
    expect(qgemmVariant(big, caps({ ...SGMAT_CAPS, subgroupMinSize: 16 }))).toBe('dp4a');
    expect(qgemmVariant(big, caps({ ...noI8, isFallback: true }))).toBe('direct_dp4a');
    expect(qgemmVariant(big, DEFAULT_CAPS)).toBe('direct');
  });

  it('goes through the variant table: lowerNode follows the rules, and ctx.variant forces a kernel', () => {
    expect(chooseVariant(big, { elem: 'f32', caps: SGMAT_CAPS })).toBe('dp4a');
    expect(chooseVariant(big, { elem: 'f32', caps: DEFAULT_CAPS })).toBe('direct');
    const forced = (v: string): string => lowerNode(big, { elem: 'f32', caps: SGMAT_CAPS, variant: { qgemm: v } }).name;
    expect(forced('direct')).toBe('qgemm_direct');
    expect(forced('tiled_soft')).toBe('qgemm_tiled_soft');
    expect(forced('dp4a')).toBe('qgemm_dp4a');
    expect(() => forced('nope')).toThrow(/no nope kernel for op qgemm/);
  });

  it('renders the subgroup-matrix WGSL for the i8 16×16×32 config', () => {
    const spec = lowerNode(big, { elem: 'f32', caps: SGMAT_CAPS, variant: { qgemm: 'sgmat' } });
    expect(spec.name).toBe('qgemm_sgmat');
    expect(spec.source.startsWith('enable chromium_experimental_subgroup_matrix;')).toBe(true);
    expect(spec.source).toContain('subgroup_matrix_left<i8, 32, 16>');
    expect(spec.source).toContain('subgroup_matrix_right<i8, 16, 32>');
    expect(spec.source).toContain('subgroupMatrixMultiplyAccumulate(a3, b3, acc3_3)');
    expect(spec.source).toContain('@workgroup_size(32, 1, 1)');
    expect(spec.features).toContain('chromium-experimental-subgroup-matrix');
    expect(spec.dispatch[0] * spec.dispatch[1] * spec.dispatch[2]).toBe(1 * 2);
  });

  it('refuses the subgroup-matrix kernel without the config, naming the reason', () => {
    expect(() => lowerQgemmSgmat(big, { elem: 'f32', caps: DEFAULT_CAPS })).toThrow(/no subgroup-matrix feature/);
    const f16Only = caps({ ...SGMAT_CAPS, subgroupMatrixConfigs: SGMAT_CAPS.subgroupMatrixConfigs.slice(0, 1) });
    expect(() => lowerQgemmSgmat(big, { elem: 'f32', caps: f16Only })).toThrow(/i8→i32 16×16×32/);
  });

  it('DP4A kernels declare the language feature; variants and K get distinct cache keys', () => {
    const ctx = { elem: 'f32' as const, caps: SGMAT_CAPS };
    const dp4a = lowerQgemmTiled(small, ctx, 'dp4a');
    expect(dp4a.source.startsWith('requires packed_4x8_integer_dot_product;')).toBe(true);
    expect(dp4a.source).toContain('dot4I8Packed(');
    const soft = lowerQgemmDirect(small, ctx, 'soft');
    expect(soft.source).not.toContain('dot4I8Packed');
    const keys = new Set([dp4a.key, soft.key, lowerQgemmTiled(small, ctx, 'soft').key, lowerQgemmDirect(small, ctx, 'dp4a').key]);
    expect(keys.size).toBe(4);
    const k95 = qgemmCase({ x: [3, 95], n: 80, w: 'i4', abits: 8 }, 702).n;
    expect(lowerQgemmDirect(k95, ctx).key).not.toBe(soft.key);
  });

  it('rejects non-i8 activations with a clear error', () => {
    const x = input('x', 'f32', [4, 8]);
    const fake = { ...big, src: [x, ...big.src.slice(1)] } as Node;
    expect(() => lowerQgemmDirect(fake, { elem: 'f32', caps: DEFAULT_CAPS })).toThrow(/activations must be i8/);
  });
});
