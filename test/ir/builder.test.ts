import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../ir/builder.ts';
import { IRError, params, toposort } from '../../ir/index.ts';
import { verify } from '../../ir/verify.ts';

describe('GraphBuilder', () => {
  it('names linear params PyTorch-style under scopes, weight [out, in]', () => {
    const b = GraphBuilder.create('g');
    const x = b.input('x', [2, 5, 8]);
    const y = b.scope('blocks.0').linear(x, 'attn.q', 12);
    expect(y.type.shape).toEqual([2, 5, 12]);
    const g = b.build(y);
    verify(g);
    const ps = params(g).map((p) => [p.attrs['name'], p.type.shape, p.attrs['init']]);
    expect(ps).toEqual([
      ['blocks.0.attn.q.weight', [12, 8], 'normal'],
      ['blocks.0.attn.q.bias', [12], 'zeros'],
    ]);
  });

  it('splits and merges heads as reshape + permute', () => {
    const b = GraphBuilder.create('g');
    const x = b.input('x', [2, 7, 12]);
    const h = b.splitHeads(x, 3);
    expect(h.type.shape).toEqual([2, 3, 7, 4]);
    const o = b.mergeHeads(b.attention(h, h, h));
    expect(o.type.shape).toEqual([2, 7, 12]);
    expect(toposort(b.build(o)).find((n) => n.op === 'attention')!.attrs['scale']).toBeCloseTo(0.5);
  });

  it('chunks exactly and rejects uneven chunks', () => {
    const b = GraphBuilder.create('g');
    const x = b.input('x', [2, 12]);
    const parts = b.chunk(x, 3, 1);
    expect(parts.map((p) => [p.attrs['start'], p.attrs['end']])).toEqual([[0, 4], [4, 8], [8, 12]]);
    expect(() => b.chunk(x, 5, 1)).toThrow(/not divisible by 5/);
  });

  it('affine norms create weight (and bias) params; plain norms none', () => {
    const b = GraphBuilder.create('g');
    const x = b.input('x', [1, 3, 6]);
    b.layerNorm(x, 'n1', { affine: true });
    b.rmsNorm(x, 'n2', { affine: true });
    b.layerNorm(x);
    expect(b.params().map((p) => p.attrs['name'])).toEqual(['n1.weight', 'n1.bias', 'n2.weight']);
    expect(() => b.layerNorm(x, undefined, { affine: true })).toThrow(IRError);
  });

  it('rejects duplicate inputs, conflicting params and shape errors with IRError', () => {
    const b = GraphBuilder.create('g');
    const x = b.input('x', [2, 4]);
    expect(() => b.input('x', [2, 4])).toThrow(/declared twice/);
    b.param('w', [3, 4]);
    expect(b.param('w', [3, 4])).toBe(b.param('w', [3, 4]));
    expect(() => b.param('w', [4, 3])).toThrow(/redeclared as f32\[4,3\]/);
    expect(() => b.param('z', [0, 3])).toThrow(IRError);
    expect(() => b.linear(b.reshape(x, [8]), 'l', 3).type).not.toThrow();
    expect(() => b.reshape(x, [3, 3])).toThrow(IRError);
    expect(() => b.build([])).toThrow(/at least one output/);
  });
});
