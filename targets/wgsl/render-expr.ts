import { isDType, type DType } from '../../ir/dtype.ts';
import type { Expr } from '../../ir/expr.ts';
import { literal, valueOf, WGSL_OPS, type ValueType } from './render.ts';

/** An elementwise expression as SSA `let` lines (so table templates may repeat their arguments freely). */
export interface RenderedExpr {
  readonly lines: string[];
  /** the name or literal holding the result */
  readonly value: string;
  readonly type: ValueType;
  /** op names used, for helper emission */
  readonly ops: Set<string>;
}

const FLOAT_ONLY = new Set(['exp', 'log', 'sqrt', 'rsqrt', 'recip', 'tanh', 'sigmoid', 'silu', 'sin', 'cos', 'gelu']);
const BOOL_OK = new Set(['where', 'cast']);

interface Ctx {
  readonly inputs: readonly { readonly name: string; readonly type: ValueType }[];
  readonly lines: string[];
  readonly ops: Set<string>;
  next: number;
}

interface Val {
  readonly value: string;
  readonly type: ValueType;
}

// saturation bounds of the narrow integer dtypes, as f32 and as the value type
const NARROW_BOUNDS: Readonly<Record<string, readonly [string, string, string, string]>> = {
  i8: ['-128.0', '127.0', '-128i', '127i'],
  u8: ['0.0', '255.0', '0u', '255u'],
};

function floatToInt(v: string, to: 'i32' | 'u32', toDtype: DType): string {
  const narrow = NARROW_BOUNDS[toDtype];
  // WGSL's round() is half-to-even; the explicit top bound saturates where f32 → int conversion may not
  if (narrow) return `${to}(clamp(round(${v}), ${narrow[0]}, ${narrow[1]}))`;
  return to === 'i32'
    ? `select(i32(max(round(${v}), -2147483648.0)), 2147483647i, round(${v}) >= 2147483648.0)`
    : `select(u32(max(round(${v}), 0.0)), 4294967295u, round(${v}) >= 4294967296.0)`;
}

/** A value converted to a dtype's value type by `cast` rules: float → int rounds half to even and saturates. */
export function castValue(v: string, from: ValueType, toDtype: DType): string {
  const to = valueOf(toDtype);
  if (to === 'bool') return from === 'bool' ? v : `(${v} != ${literal(0, from)})`;
  if (from === 'bool') return `select(${literal(0, to)}, ${literal(1, to)}, ${v})`;
  if (to === 'f32') return from === 'f32' ? v : `f32(${v})`;
  if (from === 'f32') return floatToInt(v, to, toDtype);
  const narrow = NARROW_BOUNDS[toDtype];
  if (from === to) return narrow ? `clamp(${v}, ${narrow[2]}, ${narrow[3]})` : v;
  if (to === 'u32') return `u32(clamp(${v}, 0i, ${narrow ? 255 : 2147483647}i))`;
  return `i32(min(${v}, ${narrow ? 127 : 2147483647}u))`;
}

/** A value written into a tensor of another dtype (storage semantics: float → int truncates, as typed arrays do). */
export function storeValue(v: string, from: ValueType, toDtype: DType): string {
  const to = valueOf(toDtype);
  return from === 'f32' && (to === 'i32' || to === 'u32') ? `${to}(${v})` : castValue(v, from, toDtype);
}

function bind(cx: Ctx, type: ValueType, code: string): Val {
  const name = `t${cx.next++}`;
  cx.lines.push(`let ${name}: ${type} = ${code};`);
  return { value: name, type };
}

function visit(e: Expr, want: ValueType | undefined, cx: Ctx): Val {
  if (e.kind === 'input') {
    const inp = cx.inputs[e.index];
    if (!inp) throw new Error(`wgsl: fused expr reads $${e.index} but the node has ${cx.inputs.length} operands`);
    return { value: inp.name, type: inp.type };
  }
  if (e.kind === 'const') {
    const t = want ?? 'f32';
    return { value: literal(e.value, t), type: t };
  }
  cx.ops.add(e.op);
  if (e.op === 'cast') {
    const to = e.attrs['to'];
    if (typeof to !== 'string' || !isDType(to)) throw new Error('wgsl: cast needs a dtype attribute `to`');
    const a = visit(e.args[0]!, undefined, cx);
    return bind(cx, valueOf(to), castValue(a.value, a.type, to));
  }
  const render = WGSL_OPS[e.op];
  if (!render) throw new Error(`wgsl: no kernel for op ${e.op}`);
  // operands that are not constants fix the type; constants then adopt it
  const isWhere = e.op === 'where';
  const vals: (Val | undefined)[] = e.args.map((a) => (a.kind === 'const' ? undefined : visit(a, undefined, cx)));
  const known = vals.find((v, i) => v && (!isWhere || i > 0));
  const t = known?.type ?? want ?? 'f32';
  const args = e.args.map((a, i) => vals[i] ?? visit(a, isWhere && i === 0 ? 'bool' : t, cx));
  if (t === 'bool' && !BOOL_OK.has(e.op)) throw new Error(`wgsl: no kernel for op ${e.op} on bool`);
  if (t === 'i32' && FLOAT_ONLY.has(e.op)) throw new Error(`wgsl: no kernel for op ${e.op} on i32`);
  if (isWhere && args[0]!.type !== 'bool') throw new Error('wgsl: where needs a bool condition');
  return bind(cx, t, render(args.map((a) => a.value), t, e.attrs));
}

/** Renders `e` over named, typed inputs; the caller emits `lines` then uses `value`. */
export function renderExpr(e: Expr, inputs: readonly { name: string; type: ValueType }[]): RenderedExpr {
  const cx: Ctx = { inputs, lines: [], ops: new Set(), next: 0 };
  const v = visit(e, undefined, cx);
  return { lines: cx.lines, value: v.value, type: v.type, ops: cx.ops };
}
