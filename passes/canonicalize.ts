import { isFloat, node, sameShape, sameType, BINARY_OPS, UNARY_OPS, type Node } from '../ir/index.ts';
import { checkOptions, definePass, numberOption } from './pass.ts';
import { any, pat, rewriteGraph, rule, type Rule } from './pattern.ts';
import { castValue, evalBinary, evalUnary } from '../runtime/reference-elementwise.ts';

/** A const's value as the runtime holds it (floats rounded to their dtype, as stored). */
function constValue(n: Node): number | undefined {
  const v = n.attrs['value'];
  if (n.op !== 'const' || typeof v !== 'number') return undefined;
  return isFloat(n.type.dtype) ? castValue(v, n.type.dtype) : v;
}

const isConst = (n: Node): boolean => constValue(n) !== undefined;
const isConstOf = (v: number) => (n: Node): boolean => constValue(n) === v;

/*
 * Folding evaluates in f64 and rounds once to the result dtype, as the reference interpreter stores every op's
 * result: the folded constant is the value the unfolded graph computes. Only float results are folded (integer
 * storage wraps, which castValue does not model); NaN results are not folded, they would hide a bug.
 */
function folded(n: Node, v: number): Node | undefined {
  if (Number.isNaN(v) || !isFloat(n.type.dtype)) return undefined;
  return node('const', [], { value: castValue(v, n.type.dtype) }, n.type);
}

/** `x` stands for the whole node only when broadcasting did not change its type. */
function keepIfSameType(x: Node, n: Node): Node | undefined {
  return sameType(x.type, n.type) ? x : undefined;
}

function perm(n: Node): number[] {
  return [...(n.attrs['perm'] as readonly number[])];
}

export const CANONICALIZE_RULES: readonly Rule[] = [
  // f(const) -> const for float results (cast{to} included)
  rule('fold-unary', pat(UNARY_OPS, [any('a', isConst)]), ({ a }, n) =>
    folded(n, evalUnary(n.op, constValue(a)!, n.attrs)),
  ),
  // f(const, const) -> const for float results; the const takes the broadcast shape
  rule('fold-binary', pat(BINARY_OPS, [any('a', isConst), any('b', isConst)]), ({ a, b }, n) =>
    folded(n, evalBinary(n.op, constValue(a)!, constValue(b)!, a.type.dtype)),
  ),
  // x + 0, 0 + x, x - 0 -> x (like fast-math: -0 + 0 is +0, a difference no op here can observe but 1/x)
  rule('add-zero', pat('add', [any('x'), any('z', isConstOf(0))]), ({ x }, n) => keepIfSameType(x, n)),
  rule('zero-add', pat('add', [any('z', isConstOf(0)), any('x')]), ({ x }, n) => keepIfSameType(x, n)),
  rule('sub-zero', pat('sub', [any('x'), any('z', isConstOf(0))]), ({ x }, n) => keepIfSameType(x, n)),
  // x * 1, 1 * x, x / 1 -> x (exact); x * 0 is not folded: NaN and Inf times 0 are NaN
  rule('mul-one', pat('mul', [any('x'), any('o', isConstOf(1))]), ({ x }, n) => keepIfSameType(x, n)),
  rule('one-mul', pat('mul', [any('o', isConstOf(1)), any('x')]), ({ x }, n) => keepIfSameType(x, n)),
  rule('div-one', pat('div', [any('x'), any('o', isConstOf(1))]), ({ x }, n) => keepIfSameType(x, n)),
  // neg(neg(x)) -> x
  rule('neg-neg', pat('neg', [pat('neg', [any('x')])]), ({ x }) => x),
  // cast to the dtype it already has -> x
  rule('cast-identity', pat('cast', [any('x')]), ({ x }, n) => keepIfSameType(x, n)),
  // reshape(reshape(x)) -> reshape(x)
  rule('reshape-reshape', pat('reshape', [pat('reshape', [any('x')])]), ({ x }, n) =>
    node('reshape', [x], n.attrs),
  ),
  // reshape to the shape x already has -> x
  rule('reshape-identity', pat('reshape', [any('x')]), ({ x }, n) => keepIfSameType(x, n)),
  // transpose is sugar: permute is the one canonical form of axis reordering
  rule('transpose-to-permute', pat('transpose', [any('x')]), ({ x }, n) => {
    const p = x.type.shape.map((_, i) => i);
    const r = p.length;
    const [a, b] = [((n.attrs['dim0'] as number) + r) % r, ((n.attrs['dim1'] as number) + r) % r];
    [p[a], p[b]] = [p[b]!, p[a]!];
    return node('permute', [x], { perm: p });
  }),
  // permute(permute(x, p), q) -> permute(x, p∘q): output axis i reads inner axis q[i], which reads x axis p[q[i]]
  rule('permute-permute', pat('permute', [pat('permute', [any('x')], {})]), ({ x }, n) => {
    const inner = perm(n.src[0]!);
    return node('permute', [x], { perm: perm(n).map((q) => inner[q]!) });
  }),
  // permute by the identity -> x
  rule('permute-identity', pat('permute', [any('x')]), ({ x }, n) =>
    perm(n).every((p, i) => p === i) ? x : undefined,
  ),
  // slice covering the whole axis with step 1 -> x
  rule('slice-full', pat('slice', [any('x')]), ({ x }, n) =>
    sameShape(x.type.shape, n.type.shape) && (n.attrs['step'] ?? 1) === 1 ? x : undefined,
  ),
];

/** Local simplifications to a fixed point; counts each rule as 'canonicalize.<rule>'. */
export const canonicalize = definePass({
  name: 'canonicalize',
  description: 'constant folding (float), algebraic identities, reshape/permute/slice/cast collapse',
  run: (g, ctx) => {
    checkOptions(ctx, 'canonicalize', ['max-iterations']);
    const maxIterations = numberOption(ctx, 'canonicalize', 'max-iterations', 32);
    return rewriteGraph(g, CANONICALIZE_RULES, ctx, { statPrefix: 'canonicalize', maxIterations });
  },
});
