import type { DType } from '../ir/dtype.ts';
import type { Expr } from '../ir/expr.ts';
import { parseExpr } from '../ir/expr-text.ts';
import type { Node } from '../ir/node.ts';
import { BINARY_OPS, UNARY_OPS, type Attrs, type Op } from '../ir/ops.ts';
import { binaryFn, mapElementwise, unaryFn } from './reference-elementwise.ts';
import { storeFn, type Ctx, type Val } from './reference-values.ts';

const PARSED = new Map<string, Expr>();

function exprOf(n: Node): Expr {
  const text = n.attrs['expr'];
  if (typeof text !== 'string') throw new Error(`fused: attribute expr must be a string`);
  const hit = PARSED.get(text);
  if (hit) return hit;
  const e = parseExpr(text);
  PARSED.set(text, e);
  return e;
}

type Compiled = { fn: (v: readonly number[]) => number; dtype: DType | undefined };

const UNARY = new Set<string>(UNARY_OPS);
const BINARY = new Set<string>(BINARY_OPS);

/**
 * Turns an Expr into a closure over the operand values. Every op's result is stored in the dtype it has in the
 * unfused graph (see storeFn), so a fused node evaluates bit-identically to the chain it replaced. A constant takes
 * the dtype of the op it feeds.
 */
export function compileExpr(e: Expr, srcDtypes: readonly DType[], outDtype: DType, f64: boolean): Compiled {
  if (e.kind === 'input') {
    const i = e.index;
    if (!(i >= 0 && i < srcDtypes.length)) {
      throw new Error(`fused: expr reads $${i} but the node has ${srcDtypes.length} operands`);
    }
    return { fn: (v) => v[i]!, dtype: srcDtypes[i] };
  }
  if (e.kind === 'const') {
    const c = e.value;
    return { fn: () => c, dtype: undefined };
  }
  const args = e.args.map((a) => compileExpr(a, srcDtypes, outDtype, f64));
  const dtype = opDtype(e.op, e.attrs, args) ?? outDtype;
  const fs = e.args.map((a, i) => (a.kind === 'const' ? constFn(a.value, dtype, e.op, i, f64) : args[i]!.fn));
  const store = storeFn(dtype, f64);
  return { fn: apply(e.op, e.attrs, fs, dtype, store), dtype };
}

function constFn(value: number, dtype: DType, op: Op, i: number, f64: boolean): Compiled['fn'] {
  // where's condition constant is a bool; elsewhere a constant is an operand of the op's dtype
  const c = storeFn(op === 'where' && i === 0 ? 'bool' : dtype, f64)(value);
  return () => c;
}

function opDtype(op: Op, attrs: Attrs, args: readonly Compiled[]): DType | undefined {
  if (op === 'cast') return attrs['to'] as DType;
  if (op === 'where') return args[1]?.dtype ?? args[2]?.dtype;
  return args.find((a) => a.dtype !== undefined)?.dtype;
}

function apply(
  op: Op, attrs: Attrs, fs: readonly Compiled['fn'][], dtype: DType,
  store: (x: number) => number,
): Compiled['fn'] {
  const want = UNARY.has(op) ? 1 : BINARY.has(op) ? 2 : op === 'where' ? 3 : -1;
  if (want < 0) throw new Error(`fused: op '${op}' is not elementwise`);
  if (fs.length !== want) throw new Error(`fused: ${op} takes ${want} operands, got ${fs.length}`);
  const [a, b, c] = [fs[0]!, fs[1]!, fs[2]!];
  if (want === 1) {
    const f = unaryFn(op, attrs);
    return (v) => store(f(a(v)));
  }
  if (want === 2) {
    const f = binaryFn(op, dtype);
    return (v) => store(f(a(v), b(v)));
  }
  return (v) => (a(v) ? b(v) : c(v));
}

export function evalFusedExpr(n: Node, e: Expr, src: readonly Val[], ctx: Ctx): Val {
  const { fn } = compileExpr(e, src.map((s) => s.type.dtype), n.type.dtype, ctx.f64);
  return mapElementwise(n, src, ctx, fn);
}

export function evalFused(n: Node, src: readonly Val[], ctx: Ctx): Val {
  return evalFusedExpr(n, exprOf(n), src, ctx);
}
