import type { Expr } from './expr.ts';
import { failAt } from './lexer.ts';
import { attrsText, type Node } from './node.ts';
import { isElementwise } from './ops.ts';
import { attrsFromAst, opOf, parseExprAst, type ExprAst } from './text-grammar.ts';

/** Canonical text of a fused expression, e.g. `silu(add($0, $1))`; parseExpr reads it back to an equal Expr. */
export function printExpr(e: Expr): string {
  if (e.kind === 'input') return `$${e.index}`;
  if (e.kind === 'const') return String(e.value);
  const attrs = attrsText(e.attrs);
  return `${e.op}${attrs ? `{${attrs}}` : ''}(${e.args.map(printExpr).join(', ')})`;
}

/** Parses `name{attrs}?(args)`, `$i` and numbers; ops must be elementwise (not `fused`). Throws ParseError. */
export function parseExpr(s: string): Expr {
  return fromAst(parseExprAst(s));
}

function fromAst(a: ExprAst): Expr {
  if (a.kind === 'arg') return { kind: 'input', index: Number(a.tok.image.slice(1)) };
  if (a.kind === 'num') return { kind: 'const', value: Number(a.tok.image) };
  const op = opOf(a.op);
  if (op === 'fused' || !isElementwise(op)) {
    failAt(a.op, `op '${op}' is not elementwise and cannot appear in a fused expr`);
  }
  return { kind: 'op', op, attrs: attrsFromAst(a.attrs), args: a.args.map(fromAst) };
}

/** The expression a unary/binary/where/cast/fused node computes, over its operands `$0..`. */
export function nodeExpr(n: Node): Expr {
  if (n.op === 'fused') {
    const text = n.attrs['expr'];
    if (typeof text !== 'string') throw new Error('fused: attribute expr must be a string');
    return parseExpr(text);
  }
  return { kind: 'op', op: n.op, attrs: n.attrs, args: n.src.map((_, index) => ({ kind: 'input', index })) };
}

/** Largest operand index an expression reads, or -1 when it reads none. */
export function maxInputIndex(e: Expr): number {
  if (e.kind === 'input') return e.index;
  if (e.kind === 'const') return -1;
  return Math.max(-1, ...e.args.map(maxInputIndex));
}
