import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../compiler/cache-key.ts';

describe('cacheKey', () => {
  it('renders name[hint]:workgroup:deps', () => {
    expect(cacheKey({ name: 'add', hint: 'f32', workgroup: [64], inputs: ['f32;4', 'f32;1'] })).toBe(
      'add[f32]:64,1,1:f32;4|f32;1',
    );
    expect(cacheKey({ name: 'gemm_f32', workgroup: [16, 16, 1], inputs: ['f32;2,64,64', 'type'] })).toBe(
      'gemm_f32[]:16,16,1:f32;2,64,64|type',
    );
  });

  it('keeps empty and absent inputs apart from each other', () => {
    expect(cacheKey({ name: 'k', workgroup: [1], inputs: [] })).toBe('k[]:1,1,1:');
    expect(cacheKey({ name: 'k', workgroup: [1], inputs: [''] })).toBe('k[]:1,1,1:');
    expect(cacheKey({ name: 'k', workgroup: [1], inputs: ['', ''] })).toBe('k[]:1,1,1:|');
  });

  it('distinguishes every part', () => {
    const base = { name: 'k', hint: 'a', workgroup: [8, 8], inputs: ['x'] };
    const keys = new Set([
      cacheKey(base),
      cacheKey({ ...base, name: 'j' }),
      cacheKey({ ...base, hint: 'b' }),
      cacheKey({ ...base, workgroup: [8, 4] }),
      cacheKey({ ...base, inputs: ['y'] }),
      cacheKey({ ...base, inputs: ['x', 'x'] }),
    ]);
    expect(keys.size).toBe(6);
  });

  it('rejects parts that would make the key ambiguous', () => {
    expect(() => cacheKey({ name: 'a:b', workgroup: [1], inputs: [] })).toThrow(/bad kernel name/);
    expect(() => cacheKey({ name: '', workgroup: [1], inputs: [] })).toThrow(/bad kernel name/);
    expect(() => cacheKey({ name: 'a', hint: 'x]', workgroup: [1], inputs: [] })).toThrow(/hint/);
    expect(() => cacheKey({ name: 'a', workgroup: [0], inputs: [] })).toThrow(/workgroup/);
    expect(() => cacheKey({ name: 'a', workgroup: [1, 1, 1, 1], inputs: [] })).toThrow(/workgroup/);
    expect(() => cacheKey({ name: 'a', workgroup: [1.5], inputs: [] })).toThrow(/workgroup/);
    expect(() => cacheKey({ name: 'a', workgroup: [1], inputs: ['a|b'] })).toThrow(/'\|'/);
  });
});
