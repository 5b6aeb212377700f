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

/** An input: a named value, or (load) the code that reads it, bound on its first use in a scope. */
interface Input {
  readonly value: string;
  readonly type: CudaValue;
  readonly load?: string;
}

interface Ctx {
  readonly inputs: readonly Input[];
  readonly lines: string[];
  readonly ops: Set<string>;
  readonly prefix: string;
  /** the loads bound in this scope and the scopes around it, by input index */
  readonly loaded: Map<number, Val>;
  /** the counter of temporaries, shared by nested scopes so that names stay distinct */
  readonly next: { n: number };
}

const fresh = (cx: Ctx): string => `${cx.prefix}${cx.next.n++}`;

function bind(cx: Ctx, type: CudaValue, code: string): Val {
  const name = fresh(cx);
  cx.lines.push(`const ${type} ${name} = ${code};`);
  return { value: name, type };
}

/** A nested scope: its own lines, the loads bound so far visible, its own loads not leaking out. */
const scope = (cx: Ctx): Ctx => ({ ...cx, lines: [], loaded: new Map(cx.loaded) });

/**
 * where(c, a, b) with a branch that reads an input not yet loaded: an if/else whose sides compute (and load) only
 * their own operand, so a uniform condition (a schedule flag) skips the untaken side's memory traffic.
 */
function visitLazyWhere(e: Extract<Expr, { kind: 'op' }>, cx: Ctx): Val {
  cx.ops.add('where');
  const c = visit(e.args[0]!, 'bool', cx);
  if (c.type !== 'bool') throw new Error('cuda: where needs a bool condition');
  const sides = [scope(cx), scope(cx)];
  const nonConst = e.args.slice(1).map((a, i) => (a.kind === 'const' ? undefined : visit(a, undefined, sides[i]!)));
  const t = nonConst.find((v) => v)?.type ?? 'float';
  const [a, b] = e.args.slice(1).map((a, i) => nonConst[i] ?? visit(a, t, sides[i]!));
  if (a!.type !== b!.type) throw new Error(`cuda: where branches of types ${a!.type} and ${b!.type}`);
  const name = fresh(cx);
  const body = (side: Ctx, v: Val): string[] => [...side.lines.map((l) => `  ${l}`), `  ${name} = ${v.value};`];
  cx.lines.push(`${t} ${name};`, `if (${c.value}) {`, ...body(sides[0]!, a!), '} else {', ...body(sides[1]!, b!), '}');
  return { value: name, type: t };
}

/** Whether `e` reads an input that `cx` has not loaded yet (a lazy load a branch could skip). */
function readsUnloaded(e: Expr, cx: Ctx): boolean {
  if (e.kind === 'input') return cx.inputs[e.index]?.load !== undefined && !cx.loaded.has(e.index);
  return e.kind === 'op' && e.args.some((a) => readsUnloaded(a, cx));
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
  const isWhere = e.op === 'where';
  if (isWhere && e.args.slice(1).some((a) => readsUnloaded(a, cx))) return visitLazyWhere(e, cx);
  // operands that are not constants fix the type; constants then adopt it
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
    if (inp.load === undefined) return inp;
    const had = cx.loaded.get(e.index);
    if (had) return had;
    const v = bind(cx, inp.type, inp.load);
    cx.loaded.set(e.index, v);
    return v;
  }
  if (e.kind === 'const') {
    const t = want ?? 'float';
    return { value: cudaLiteral(e.value, t), type: t };
  }
  return visitOp(e, want, cx);
}

/**
 * Renders `e` over named, typed inputs; `prefix` names the temporaries (distinct per expression in one scope). An
 * input with `load` (the code reading it) is read where first used, so the untaken side of a where loads nothing.
 */
export function renderCudaExpr(
  e: Expr, inputs: readonly { name: string; type: CudaValue; load?: string }[], prefix = 't',
): CudaExpr {
  const cx: Ctx = {
    inputs: inputs.map((i) => ({ value: i.name, type: i.type, ...(i.load !== undefined ? { load: i.load } : {}) })),
    lines: [], ops: new Set(), prefix, loaded: new Map(), next: { n: 0 },
  };
  const v = visit(e, undefined, cx);
  return { lines: cx.lines, value: v.value, type: v.type, ops: cx.ops };
}
