import { describe, expect, it } from 'vitest';
import { carryInputs, carryPairs, graph, IRError, node, withCarries } from '../../ir/index.ts';
import { inp } from '../runtime/reference-helpers.ts';

describe('carried state', () => {
  const x = inp('x', 'f32', [2, 3]);
  const c = inp('carry.c', 'f32', [2, 3]);
  const d = inp('carry.d', 'f32', [2]);
  const v = node('add', [x, c]);

  it('pairs each carry input with an output after the model\'s own, in input order', () => {
    const g = withCarries(graph('g', [x], [v]), [{ input: c, next: node('mul', [c, x]) }, { input: d, next: d }]);
    expect(carryInputs(g).map((n) => n.attrs['name'])).toEqual(['carry.c', 'carry.d']);
    expect(carryPairs(g).map((p) => [p.input.attrs['name'], p.output])).toEqual([['carry.c', 1], ['carry.d', 2]]);
    expect(carryPairs(graph('plain', [x], [v]))).toEqual([]);
  });

  it('refuses carries without their outputs, of another type, or not named carry.*', () => {
    expect(() => carryPairs(graph('g', [x, c], [v]))).toThrow(/1 carry inputs need 1 carry outputs after its own/);
    expect(() => carryPairs(graph('g', [x, c, d], [v, d, c]))).toThrow(/carry carry.c is f32\[2,3\] but output 1 .* is f32\[2\]/);
    expect(() => withCarries(graph('g', [x], [v]), [{ input: inp('c', 'f32', [2, 3]), next: v }]))
      .toThrow(IRError);
  });
});
