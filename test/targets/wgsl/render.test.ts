import { describe, expect, it } from 'vitest';
import { node } from '../../../ir/node.ts';
import { C_STYLE_OPS } from '../../../targets/c-style.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { foldGrid, WGSL_OPS } from '../../../targets/wgsl/render.ts';
import { lowerNode } from '../../../targets/wgsl/select.ts';
import { collapseView, tensorVar } from '../../../targets/wgsl/tensor-var.ts';
import { input } from './harness.ts';

const F32 = { elem: 'f32', caps: DEFAULT_CAPS } as const;

describe('wgsl renderer tables and helpers', () => {
  it('WGSL overrides only what differs from the C-style table', () => {
    expect(WGSL_OPS['add']).toBe(C_STYLE_OPS['add']);
    expect(WGSL_OPS['rsqrt']!(['x'], 'f32', {})).toBe('inverseSqrt(x)');
    expect(WGSL_OPS['where']!(['c', 'a', 'b'], 'f32', {})).toBe('select(b, a, c)');
    expect(C_STYLE_OPS['where']!(['c', 'a', 'b'], 'float', {})).toBe('(c ? a : b)');
  });
  it('a tensor var emits only the helpers it was asked for', () => {
    const x = tensorVar('x', 'f32', [4, 1, 6], 'f32');
    expect(x.helpers()).toEqual([]);
    expect(x.broadcastOffset([4, 1, 6], 'i')).toBe('i');
    expect(x.broadcastOffset([3, 4, 5, 6], 'i')).toBe('x_bcast(i)');
    expect(x.helpers()).toHaveLength(1);
    expect(x.helpers()[0]).toContain('fn x_bcast(o: u32) -> u32');
    x.offsetToIndices('7u');
    expect(x.helpers()).toHaveLength(2);
  });
  it('collapses contiguous and unit dims of a view', () => {
    expect(collapseView([2, 3, 1, 4], [12, 4, 4, 1])).toEqual({ shape: [24], strides: [1] });
    expect(collapseView([2, 3, 4], [0, 4, 1])).toEqual({ shape: [2, 12], strides: [0, 1] });
  });
  it('folds large grids into y/z within the per-dimension limit', () => {
    expect(foldGrid(10)).toEqual([10, 1, 1]);
    const [x, y, z] = foldGrid(70000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y * z).toBeGreaterThanOrEqual(70000);
    expect(foldGrid(65535 * 65535 + 1)[2]).toBe(2);
  });
});

describe('lowerNode', () => {
  const a = input('a', 'f32', [8, 16]);
  const w = input('w', 'f32', [4, 16]);
  it('keys differ whenever the source differs and agree when it does not', () => {
    const k1 = lowerNode(node('linear', [a, w]), F32);
    const k2 = lowerNode(node('linear', [a, input('w2', 'f32', [4, 16])]), F32);
    const k3 = lowerNode(node('linear', [a, input('w3', 'f32', [5, 16])]), F32);
    expect(k1.key).toBe(k2.key);
    expect(k1.source).toBe(k2.source);
    expect(k3.key).not.toBe(k1.key);
    const s1 = lowerNode(node('softmax', [a], { axis: 0 }), F32);
    const s2 = lowerNode(node('softmax', [a], { axis: 1 }), F32);
    expect(s1.key).not.toBe(s2.key);
    expect(k1.key).toMatch(/^linear\[f32;nk;64x64x16\]:16,16,1:f32;8,16\|f32;4,16\|f32;8,4$/);
  });
  it('reports flops and bytes for the GEMM', () => {
    const k = lowerNode(node('linear', [a, w]), F32);
    expect(k.flops).toBe(2 * 8 * 4 * 16);
    expect(k.bytes).toBe(4 * (8 * 16 + 4 * 16 + 8 * 4));
  });
  it('refuses f16 storage without shader-f16', () => {
    const h = input('h', 'f16', [4]);
    expect(() => lowerNode(node('exp', [h]), { elem: 'f16', caps: DEFAULT_CAPS })).toThrow(/needs shader-f16/);
    const caps = { ...DEFAULT_CAPS, features: new Set(['shader-f16']), hasF16: true };
    const spec = lowerNode(node('exp', [h]), { elem: 'f16', caps });
    expect(spec.features).toEqual(['shader-f16']);
    expect(spec.source.startsWith('enable f16;')).toBe(true);
  });
  it('names unsupported ops and dtypes', () => {
    expect(() => lowerNode(node('reshape', [a], { shape: [128] }), F32)).toThrow('wgsl: no kernel for op reshape');
    const q = input('q', 'u4', [8]);
    expect(() => lowerNode(node('permute', [q], { perm: [0] }), F32)).toThrow(/packed dtype u4/);
    expect(() => lowerNode(node('fused', [a], { expr: 'exp($3)' }), F32)).toThrow(/reads \$3/);
  });
});
