import { describe, expect, it } from 'vitest';
import { node } from '../../../ir/node.ts';
import type { DType } from '../../../ir/dtype.ts';
import type { Shape } from '../../../ir/types.ts';
import { DEFAULT_CAPS, type DeviceCaps, type LowerContext } from '../../../targets/target.ts';
import { chooseVariant, lowerNode, parseKernelChoice } from '../../../targets/wgsl/select.ts';
import { input } from './harness.ts';

const GPU: DeviceCaps = DEFAULT_CAPS;
const CPU: DeviceCaps = { ...DEFAULT_CAPS, isFallback: true };
const ctx = (caps: DeviceCaps, variant?: LowerContext['variant']): LowerContext =>
  ({ elem: 'f32', caps, ...(variant ? { variant } : {}) });

const leaf = (name: string, shape: Shape, dtype: DType = 'f32') => input(name, dtype, shape);
const linear = node('linear', [leaf('x', [64, 32]), leaf('w', [16, 32]), leaf('b', [16])], {});
const matmul = node('matmul', [leaf('a', [8, 12]), leaf('b', [12, 20])], {});
const attention = (d: number) => node('attention',
  [leaf('q', [1, 2, 16, d]), leaf('k', [1, 2, 16, d]), leaf('v', [1, 2, 16, d])], { scale: 0.1 });

describe('wgsl kernel variant selection', () => {
  it('gives GPU adapters the tiled kernels (workgroup memory and barriers)', () => {
    for (const [n, name] of [[linear, 'linear'], [matmul, 'matmul'], [attention(64), 'attention']] as const) {
      expect(chooseVariant(n, ctx(GPU))).toBe('tiled');
      const spec = lowerNode(n, ctx(GPU));
      expect(spec.name).toBe(name);
      expect(spec.source).toContain('workgroupBarrier');
    }
  });
  it('gives fallback (CPU) adapters the barrier-free direct kernels', () => {
    for (const [n, name] of [[linear, 'linear_direct'], [matmul, 'matmul_direct'],
      [attention(64), 'attention_direct']] as const) {
      expect(chooseVariant(n, ctx(CPU))).toBe('direct');
      const spec = lowerNode(n, ctx(CPU));
      expect(spec.name).toBe(name);
      expect(spec.source).not.toContain('workgroupBarrier');
      expect(spec.source).not.toContain('var<workgroup>');
    }
  });
  it('keeps the tiled attention for head dims the direct kernel does not unroll', () => {
    expect(chooseVariant(attention(320), ctx(CPU))).toBe('tiled');
  });
  it('honours a forced variant either way and leaves other ops alone', () => {
    expect(lowerNode(linear, ctx(CPU, { linear: 'tiled' })).name).toBe('linear');
    expect(lowerNode(linear, ctx(GPU, { linear: 'direct' })).name).toBe('linear_direct');
    expect(lowerNode(matmul, ctx(CPU, { linear: 'tiled' })).name).toBe('matmul_direct');
    expect(chooseVariant(node('relu', [leaf('x', [4])], {}), ctx(CPU))).toBeUndefined();
  });
  it('names the op and the known variants for an unknown forced variant', () => {
    expect(() => lowerNode(linear, ctx(GPU, { linear: 'simd' }))).toThrow(/no simd kernel for op linear \(have tiled, direct\)/);
  });
  it('shares K/V through subgroups only with one fixed subgroup size', () => {
    const sg: DeviceCaps = { ...CPU, features: new Set(['subgroups']), subgroupMinSize: 8, subgroupMaxSize: 8 };
    expect(lowerNode(attention(64), ctx(sg)).source).toContain('subgroupBroadcast');
    expect(lowerNode(attention(64), ctx(sg)).features).toContain('subgroups');
    expect(lowerNode(attention(64), ctx({ ...sg, subgroupMaxSize: 32 })).source).not.toContain('subgroupBroadcast');
    expect(lowerNode(attention(24), ctx(sg)).source).not.toContain('subgroupBroadcast');
  });
});

describe('--kernel op=variant (parseKernelChoice)', () => {
  it('parses a list into LowerContext.variant and forces those kernels', () => {
    const choice = parseKernelChoice(' qgemm=dp4a, linear=direct ');
    expect(choice).toEqual({ qgemm: 'dp4a', linear: 'direct' });
    const x = input('x', 'f32', [4, 8]);
    const w = input('w', 'f32', [6, 8]);
    const lin = node('linear', [x, w]);
    expect(chooseVariant(lin, { elem: 'f32', caps: DEFAULT_CAPS, variant: choice })).toBe('direct');
    expect(chooseVariant(lin, { elem: 'f32', caps: DEFAULT_CAPS })).not.toBe('direct');
  });
  it('names what exists when the op or the variant is unknown', () => {
    expect(() => parseKernelChoice('qgemm=foo')).toThrow(/no foo kernel for qgemm \(have sgmat, dp4a/);
    expect(() => parseKernelChoice('layernorm=tiled')).toThrow(/op 'layernorm' has no variants/);
    expect(() => parseKernelChoice('qgemm')).toThrow(/expected op=variant/);
  });
});
