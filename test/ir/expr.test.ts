import { describe, expect, it } from 'vitest';
import { ParseError, parseExpr, printExpr, type Expr } from '../../ir/index.ts';

describe('fused expression text', () => {
  it.each([
    'silu(add($0, $1))',
    'mul($0, -0.0015)',
    'gelu{approx="tanh"}($2)',
    'where($0, $1, -Infinity)',
    'cast{to="f16"}(div(exp($0), add(1, 6.02e+23)))',
    'add($10, 1e-7)',
  ])('round-trips %s', (s) => {
    expect(printExpr(parseExpr(s))).toBe(s);
  });

  it('canonicalises spacing, attribute order and number spelling', () => {
    expect(printExpr(parseExpr(' add( $0 ,mul{b=1,a="x"}( $1, 2.50E1 ) ) '))).toBe('add($0, mul{a="x", b=1}($1, 25))');
  });

  it('builds the documented tree', () => {
    const e: Expr = {
      kind: 'op', op: 'mul', attrs: {}, args: [{ kind: 'input', index: 3 }, { kind: 'const', value: -2.5e-3 }],
    };
    expect(parseExpr('mul($3, -2.5e-3)')).toEqual(e);
    expect(parseExpr(printExpr(e))).toEqual(e);
  });

  it.each([
    ['silu(add($0, $1)', 1, 17, /expected '\)' but found end of input/],
    ['silo($0)', 1, 1, /unknown op 'silo' \(did you mean silu/],
    ['add($0, linear($1, $2))', 1, 9, /'linear' is not elementwise/],
    ['add($0, $1) $2', 1, 13, /after the end of the expression/],
    ['', 1, 1, /expected one of .* but found end of input/],
  ])('rejects %j', (s, line, column, message) => {
    let err: unknown;
    try {
      parseExpr(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParseError);
    expect((err as ParseError).message).toMatch(message);
    expect([(err as ParseError).line, (err as ParseError).column]).toEqual([line, column]);
  });
});
