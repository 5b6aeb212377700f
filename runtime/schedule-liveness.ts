import type { Expr } from '../ir/expr.ts';
import { nodeExpr } from '../ir/expr-text.ts';
import { toposort, type Graph } from '../ir/graph.ts';
import { rangeTiles, tileSelectAttrs, tileSelectKeys } from '../ir/infer-tile-select.ts';
import type { Node } from '../ir/node.ts';
import { BINARY_OPS, UNARY_OPS } from '../ir/ops.ts';
import { evalBinary, evalUnary } from './reference-elementwise.ts';

/*
 * Which values a forward needs per timestep range of its schedule (passes/prune-schedule.ts): a graph whose
 * scheduled ops (schedule_value, tile_select{keeps}, sparse_attention{bounds}) share one graph input t and one list
 * of bounds computes, in a given range, values that no one reads there: the pooled keys of a tile_select that keeps
 * nothing in that range, or the side of a where that the range's flag does not take (a residual form's dense part
 * at a pruned step, its sparse part at a dense one, passes/prune-residual.ts). A runner that knows t before it
 * launches may skip the kernels of such values: nothing of that forward reads them, so the outputs do not change.
 *
 * Per-range constants are the schedule_value rows and what elementwise ops make of them alone (casts, reshapes,
 * fused expressions over them); a where (or a fused where) whose condition is such a constant reads one side only,
 * and a tile_select reads neither q nor the keys in a range whose budget is 0 tiles. Everything else reads all its
 * operands. Graph outputs are needed in every range.
 */

/** The schedule of a graph: its timestep input, the bounds, and per node the ranges in which its value is read. */
export interface ScheduleLiveness {
  readonly t: Node;
  readonly bounds: readonly number[];
  /** per node of the graph: needed[r] whether a forward whose timesteps all lie in range r reads its value */
  readonly needed: ReadonlyMap<Node, readonly boolean[]>;
}

const UNARY = new Set<string>(UNARY_OPS);
const BINARY = new Set<string>(BINARY_OPS);

/** The graph's one schedule (t and bounds shared by every scheduled op), or undefined without one or with several. */
function findSchedule(order: readonly Node[]): { t: Node; bounds: readonly number[] } | undefined {
  const found: { t: Node; bounds: readonly number[] }[] = [];
  for (const n of order) {
    if (n.op === 'schedule_value') found.push({ t: n.src[0]!, bounds: n.attrs['bounds'] as number[] });
    else if (n.op === 'tile_select' && n.src.length === 3) {
      found.push({ t: n.src[2]!, bounds: tileSelectAttrs(n.attrs).schedule?.bounds ?? [] });
    } else if (n.op === 'sparse_attention' && n.src.length === 5) {
      found.push({ t: n.src[4]!, bounds: n.attrs['bounds'] as number[] });
    }
  }
  const first = found[0];
  if (!first || first.t.op !== 'input' || first.bounds.length === 0) return undefined;
  const same = found.every((f) => f.t === first.t && JSON.stringify(f.bounds) === JSON.stringify(first.bounds));
  return same ? first : undefined;
}

/**
 * An elementwise expression over known scalars, as the reference evaluates it (unary, binary, where), or undefined
 * where an operand is unknown.
 */
function evalExpr(e: Expr, inputs: readonly (number | undefined)[]): number | undefined {
  if (e.kind === 'const') return e.value;
  if (e.kind === 'input') return inputs[e.index];
  const a = e.args.map((x) => evalExpr(x, inputs));
  if (e.op === 'where') return a[0] === undefined ? undefined : a[0] !== 0 ? a[1] : a[2];
  if (a.some((x) => x === undefined)) return undefined;
  if (UNARY.has(e.op)) return evalUnary(e.op, a[0]!, e.attrs);
  return BINARY.has(e.op) ? evalBinary(e.op, a[0]!, a[1]!) : undefined;
}

/** The operands an expression reads, given the known ones: a where with a known condition reads its taken side. */
function readInputs(e: Expr, known: readonly (number | undefined)[], into: boolean[]): void {
  if (e.kind === 'input') into[e.index] = true;
  else if (e.kind === 'op') {
    const c = e.op === 'where' ? evalExpr(e.args[0]!, known) : undefined;
    if (c === undefined) e.args.forEach((a) => readInputs(a, known, into));
    else {
      readInputs(e.args[0]!, known, into);
      readInputs(e.args[c !== 0 ? 1 : 2]!, known, into);
    }
  }
}

export function scheduleLiveness(g: Graph): ScheduleLiveness | undefined {
  const order = toposort(g);
  const schedule = findSchedule(order);
  if (!schedule) return undefined;
  const rows = schedule.bounds.length + 1;
  // per node, its value in each range where it is a per-range constant
  const consts = new Map<Node, readonly (number | undefined)[]>();
  const constOf = (n: Node, r: number): number | undefined => consts.get(n)?.[r];
  for (const n of order) {
    if (n.op === 'schedule_value') consts.set(n, n.attrs['values'] as number[]);
    else if (n.op === 'reshape' && consts.has(n.src[0]!)) consts.set(n, consts.get(n.src[0]!)!);
    else if ((n.op === 'fused' || n.op === 'where' || UNARY.has(n.op) || BINARY.has(n.op)) && n.src.length &&
      n.src.every((s) => consts.has(s))) {
      const e = nodeExpr(n);
      consts.set(n, Array.from({ length: rows }, (_, r) => evalExpr(e, n.src.map((s) => constOf(s, r)))));
    }
  }
  /** Which operands n reads in range r. */
  const reads = (n: Node, r: number): boolean[] => {
    const all = n.src.map(() => true);
    if (n.op === 'tile_select' && n.src.length === 3) {
      const a = tileSelectAttrs(n.attrs);
      return rangeTiles(tileSelectKeys(n.src[1]!.type, a), a)[r] === 0 ? [false, false, true] : all;
    }
    if (n.op !== 'fused' && n.op !== 'where') return all;
    const into = n.src.map(() => false);
    readInputs(nodeExpr(n), n.src.map((s) => constOf(s, r)), into);
    return into;
  };
  const needed = new Map<Node, boolean[]>(order.map((n) => [n, new Array<boolean>(rows).fill(false)]));
  for (const o of g.outputs) needed.get(o)!.fill(true);
  for (const n of [...order].reverse()) {
    const mine = needed.get(n)!;
    for (let r = 0; r < rows; r++) {
      if (!mine[r]) continue;
      reads(n, r).forEach((yes, i) => { if (yes) needed.get(n.src[i]!)![r] = true; });
    }
  }
  return { ...schedule, needed };
}
