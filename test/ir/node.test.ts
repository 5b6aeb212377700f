import { describe, expect, it } from 'vitest';
import { graph, IRError, node, substitute, tensorType, toposort } from '../../ir/index.ts';

describe('node', () => {
  const x = node('input', [], { name: 'x' }, tensorType('f32', [2, 4]));
  const w = node('param', [], { name: 'w' }, tensorType('f32', [3, 4]));

  it('is hash-consed: equal structure is the same object', () => {
    expect(node('linear', [x, w])).toBe(node('linear', [x, w]));
    expect(node('linear', [x, w]).type.shape).toEqual([2, 3]);
  });

  it('rejects mismatched shapes with an IRError naming the operands', () => {
    const bad = node('param', [], { name: 'v' }, tensorType('f32', [4, 3]));
    expect(() => node('linear', [x, bad])).toThrow(IRError);
    expect(() => node('linear', [x, bad])).toThrow(/f32\[4,3\]/);
  });

  it('toposorts sources before users and substitutes bottom-up', () => {
    const y = node('silu', [node('linear', [x, w])]);
    const g = graph('g', [x], [y]);
    expect(toposort(g).map((n) => n.op)).toEqual(['input', 'param', 'linear', 'silu']);
    const lin = y.src[0]!;
    const g2 = substitute(g, new Map([[lin, node('relu', [lin])]]));
    expect(toposort(g2).map((n) => n.op)).toEqual(['input', 'param', 'linear', 'relu', 'silu']);
  });
});
