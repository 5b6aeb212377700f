import { describe, expect, it } from 'vitest';
import { graph, IRError, node, print, tensorType, type Node } from '../../ir/index.ts';
import { any, createContext, pat, rewriteGraph, rule } from '../../passes/index.ts';

const x = node('input', [], { name: 'x' }, tensorType('f32', [2, 3]));
const y = node('input', [], { name: 'y' }, tensorType('f32', [2, 3]));

function matches(p: { match(n: Node, c: Map<string, Node>): boolean }, n: Node): Map<string, Node> | undefined {
  const caps = new Map<string, Node>();
  return p.match(n, caps) ? caps : undefined;
}

describe('pat / any', () => {
  it('matches op and sources and binds captures', () => {
    const e = node('exp', [node('add', [x, y])]);
    const caps = matches(pat('exp', [pat('add', [any('a'), any('b')])]), e);
    expect(caps?.get('a')).toBe(x);
    expect(caps?.get('b')).toBe(y);
    expect(matches(pat('log', [any('a')]), e)).toBeUndefined();
    expect(matches(pat(['log', 'exp']), e)).toBeDefined();
  });

  it('requires a name captured twice to bind the same node', () => {
    const p = pat('sub', [any('a'), any('a')]);
    expect(matches(p, node('sub', [x, x]))).toBeDefined();
    expect(matches(p, node('sub', [x, y]))).toBeUndefined();
  });

  it('checks arity, attribute predicates and capture predicates', () => {
    const g = node('gelu', [x], { approx: 'tanh' });
    expect(matches(pat('gelu', [any('a')], { attrs: (a) => a['approx'] === 'tanh' }), g)).toBeDefined();
    expect(matches(pat('gelu', [any('a')], { attrs: (a) => a['approx'] === 'none' }), g)).toBeUndefined();
    expect(matches(pat('gelu', [any('a'), any('b')]), g)).toBeUndefined();
    expect(matches(pat('gelu', [any('a', (n) => n.op === 'param')]), g)).toBeUndefined();
  });
});

describe('rewriteGraph', () => {
  const expToSq = rule('exp-to-square', pat('exp', [any('a')]), ({ a }) => node('square', [a]));
  const sqSqToAbs = rule('square-square', pat('square', [pat('square', [any('a')])]), ({ a }) => node('abs', [a]));

  it('rewrites bottom-up, counts applications by rule and leaves the input graph alone', () => {
    const g = graph('g', [x], [node('exp', [node('exp', [x])])]);
    const before = print(g);
    const ctx = createContext();
    const out = rewriteGraph(g, [expToSq, sqSqToAbs], ctx, { statPrefix: 't' });
    expect(out.outputs[0]).toBe(node('abs', [x]));
    expect(ctx.stats.get('t.exp-to-square')).toBe(2);
    expect(ctx.stats.get('t.square-square')).toBe(1);
    expect(print(g)).toBe(before);
  });

  it('with fixedPoint off runs one sweep only', () => {
    // the rule makes a new exp below the rewritten node, which only a second sweep visits
    const push = rule('push', pat('neg', [pat('exp', [any('a')])]), ({ a }) =>
      node('neg', [node('neg', [node('exp', [a])])]),
    );
    const unneg = rule('neg-neg-exp', pat('neg', [pat('neg', [pat('exp', [any('a')])])]), ({ a }) => node('exp', [a]));
    const g = graph('g', [x], [node('neg', [node('exp', [x])])]);
    const one = rewriteGraph(g, [push], createContext(), { fixedPoint: false });
    expect(one.outputs[0]).toBe(node('neg', [node('neg', [node('exp', [x])])]));
    expect(rewriteGraph(g, [unneg, push], createContext()).outputs[0]).toBe(node('exp', [x]));
  });

  it('returns the very same graph when no rule applies', () => {
    const g = graph('g', [x], [node('log', [x])]);
    expect(rewriteGraph(g, [expToSq], createContext())).toBe(g);
  });

  it('rejects a replacement that changes the type, naming the rule', () => {
    const bad = rule('bad', pat('exp', [any('a')]), ({ a }) => node('reshape', [a], { shape: [6] }));
    const g = graph('g', [x], [node('exp', [x])]);
    expect(() => rewriteGraph(g, [bad], createContext())).toThrow(IRError);
    expect(() => rewriteGraph(g, [bad], createContext())).toThrow(/rule bad: replacement .* changes the type/);
  });

  it('fails loudly when two rules undo each other', () => {
    const a = rule('to-sq', pat('exp', [any('v')]), ({ v }) => node('square', [v]));
    const b = rule('to-exp', pat('square', [any('v')]), ({ v }) => node('exp', [v]));
    const g = graph('g', [x], [node('exp', [x])]);
    expect(() => rewriteGraph(g, [a, b], createContext())).toThrow(/did not settle|no fixed point/);
  });
});
