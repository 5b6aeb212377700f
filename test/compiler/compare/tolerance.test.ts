import { describe, expect, it } from 'vitest';
import { EXACT, f16AttentionTolerance, toleranceFor } from '../../../compiler/compare/tolerance.ts';
import { node } from '../../../ir/node.ts';

const x = node('input', [], { name: 'x' }, { dtype: 'f32', shape: [2, 8] });
const d = node('input', [], { name: 'd' }, { dtype: 'f32', shape: [2, 1] });

describe('toleranceFor', () => {
  it('integer results and copies are exact; float kernels get their op\'s bound', () => {
    expect(toleranceFor(node('quantize', [x, d], { bits: 8 }))).toBe(EXACT);
    expect(toleranceFor(node('permute', [x], { perm: [1, 0] }))).toBe(EXACT);
    expect(toleranceFor(node('layernorm', [x], { eps: 1e-6 }))).toMatchObject({ rtol: 1e-4, atol: 1e-5 });
    expect(toleranceFor(node('exp', [x]))).toMatchObject({ rtol: 1e-5, atol: 1e-6 });
    expect(toleranceFor(node('fused', [x], { expr: 'silu($0)' })).why).toMatch(/elementwise/);
    const w = node('input', [], { name: 'w' }, { dtype: 'f32', shape: [4, 8] });
    const t = node('input', [], { name: 't' }, { dtype: 'f32', shape: [2] });
    const emb = node('timestep_embedding', [t], { dim: 8, max_period: 10000, flip: false, shift: 0, scale: 1000 });
    expect(toleranceFor(node('linear', [x, w]))).toMatchObject({ rtol: 1e-4, atol: 1e-5 });
    // WGSL sin/cos are only held to 2^-11 absolute
    expect(toleranceFor(emb)).toMatchObject({ rtol: 0, atol: 2 ** -11 });
    // schedule_value picks one of its f32 values: exact, though its result is a float
    const sv = node('schedule_value', [t], { values: [1, 0.5], bounds: [0.5] });
    expect(toleranceFor(sv)).toMatchObject({ rtol: 0, atol: 0 });
  });
});

describe('f16AttentionTolerance', () => {
  it('is u·(2 + 2|scale|·D)·1.1 over the f32 attention bound: D = 64 at scale 1/8 gives 18u·1.1 + 1e-5', () => {
    const q = node('input', [], { name: 'q' }, { dtype: 'f32', shape: [1, 2, 10, 64] });
    const t = f16AttentionTolerance(node('attention', [q, q, q], { scale: -0.125 }));
    expect(t.atol).toBeCloseTo(1.1 * 18 * 2 ** -11 + 1e-5, 12);
    expect(t.rtol).toBe(toleranceFor(node('attention', [q, q, q], { scale: 0.125 })).rtol);
    expect(t.why).toMatch(/f16/);
  });
});
