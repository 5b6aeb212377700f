import { describe, expect, it } from 'vitest';
import { parseStandaloneArgs } from '../../../compiler/compile/standalone-main.ts';

describe('run.js arguments', () => {
  it('default to WebGPU and take --backend cuda', () => {
    expect(parseStandaloneArgs(['--class', '3']).backend).toBe('wgsl');
    expect(parseStandaloneArgs(['--class', '3', '--backend', 'cuda']).backend).toBe('cuda');
  });

  it('refuse another backend', () => {
    expect(() => parseStandaloneArgs(['--class', '3', '--backend', 'cpu'])).toThrow(/--backend must be wgsl or cuda, got 'cpu'/);
  });
});
