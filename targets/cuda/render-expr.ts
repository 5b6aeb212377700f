import { isDType } from '../../ir/dtype.ts';
import type { Expr } from '../../ir/expr.ts';
import { CUDA_OPS, cudaCast, cudaLiteral, cudaValueOf, type CudaValue } from './render.ts';

/** An elementwise expression as SSA `const` lines (table templates may repeat their arguments freely). */
export interface CudaExpr {
  readonly lines: string[];
  readonly value: string;
  readonly type: CudaValue;
  readonly ops: Set<string>;
}

const FLOAT_ONLY = new Set(['exp', 'log', 'sqrt', 'rsqrt', 'recip', 'tanh', 'sigmoid', 'silu', 'sin', 'cos', 'gelu']);
const BOOL_OK = new Set(['where', 'cast']);

interface Val {
  readonly value: string;
  readonly type: CudaValue;
}

interface Ctx {
  readonly inputs: readonly Val[];
  readonly lines: string[];
  readonly ops: Set<string>;
  readonly prefix: string;
  next: number;
}

function bind(cx: Ctx, type: CudaValue, code: string): Val {
  const name = `${cx.prefix}${cx.next++}`;
  cx.lines.push(`const ${type} ${name} = ${code};`);
  return { value: name, type };
}

function visitOp(e: Extract<Expr, { kind: 'op' }>, want: CudaValue | undefined, cx: Ctx): Val {
  cx.ops.add(e.op);
  if (e.op === 'cast') {
    const to = e.attrs['to'];
    if (typeof to !== 'string' || !isDType(to)) throw new Error('cuda: cast needs a dtype attribute `to`');
    const a = visit(e.args[0]!, undefined, cx);
    return bind(cx, cudaValueOf(to), cudaCast(a.value, a.type, to));
  }
  const render = CUDA_OPS[e.op];
  if (!render) throw new Error(`cuda: no kernel for op ${e.op}`);
  // operands that are not constants fix the type; constants then adopt it
  const isWhere = e.op === 'where';
  const vals = e.args.map((a) => (a.kind === 'const' ? undefined : visit(a, undefined, cx)));
  const known = vals.find((v, i) => v && (!isWhere || i > 0));
  const t = known?.type ?? want ?? 'float';
  const args = e.args.map((a, i) => vals[i] ?? visit(a, isWhere && i === 0 ? 'bool' : t, cx));
  if (t === 'bool' && !BOOL_OK.has(e.op)) throw new Error(`cuda: no kernel for op ${e.op} on bool`);
  if (t !== 'float' && FLOAT_ONLY.has(e.op)) throw new Error(`cuda: no kernel for op ${e.op} on ${t}`);
  if (isWhere && args[0]!.type !== 'bool') throw new Error('cuda: where needs a bool condition');
  return bind(cx, t, render(args.map((a) => a.value), t, e.attrs));
}

function visit(e: Expr, want: CudaValue | undefined, cx: Ctx): Val {
  if (e.kind === 'input') {
    const inp = cx.inputs[e.index];
    if (!inp) throw new Error(`cuda: fused expr reads $${e.index} but the node has ${cx.inputs.length} operands`);
    return inp;
  }
  if (e.kind === 'const') {
    const t = want ?? 'float';
    return { value: cudaLiteral(e.value, t), type: t };
  }
  return visitOp(e, want, cx);
}

/** Renders `e` over named, typed inputs; `prefix` names the temporaries (distinct per expression in one scope). */
export function renderCudaExpr(
  e: Expr, inputs: readonly { name: string; type: CudaValue }[], prefix = 't',
): CudaExpr {
  const cx: Ctx = { inputs: inputs.map((i) => ({ value: i.name, type: i.type })), lines: [], ops: new Set(), prefix, next: 0 };
  const v = visit(e, undefined, cx);
  return { lines: cx.lines, value: v.value, type: v.type, ops: cx.ops };
}
