import {
  graph, isElementwise, isFloat, node, parseExpr, printExpr, sameType, toposort, type Attrs, type AttrValue, type Expr,
  type Graph, type Node,
} from '../ir/index.ts';
import { castValue } from '../runtime/reference-elementwise.ts';
import { bumpStat, checkOptions, definePass, numberOption, type PassContext } from './pass.ts';

/*
 * Elementwise trees -> one `fused{expr}` node each.
 *
 * A producer joins its user's region when it is elementwise, is not a graph output and has exactly one use site
 * (one operand slot of one node). One use site keeps regions trees, so no value is recomputed: mul(p, p) leaves p
 * its own kernel. Region leaves become the fused operands, deduplicated, numbered in visiting order (depth-first,
 * sources in order; an inlined fused node's operands all stay, read or not, as they shape the broadcast). Float
 * `const` leaves become literals in the expr, rounded to their dtype as the runtime would store them.
 * Lone elementwise ops become `fused` too (min-ops=1, the default), so the backends have one elementwise kernel
 * path; min-ops=2 leaves them as they are.
 */

function countInputRefs(e: Expr, counts: number[]): void {
  if (e.kind === 'input') counts[e.index] = (counts[e.index] ?? 0) + 1;
  else if (e.kind === 'op') for (const a of e.args) countInputRefs(a, counts);
}

/** Use sites per node; a fused user uses operand i once per `$i` in its expr (operands are deduplicated). */
function useCounts(g: Graph): Map<Node, number> {
  const uses = new Map<Node, number>();
  const add = (s: Node, k: number): void => void uses.set(s, (uses.get(s) ?? 0) + k);
  for (const n of toposort(g)) {
    if (n.op !== 'fused') {
      for (const s of n.src) add(s, 1);
      continue;
    }
    const refs: number[] = [];
    countInputRefs(parseExpr(n.attrs['expr'] as string), refs);
    // an operand the expr never reads still counts once: it shapes the broadcast
    n.src.forEach((s, i) => add(s, Math.max(1, refs[i] ?? 0)));
  }
  for (const o of g.outputs) uses.set(o, (uses.get(o) ?? 0) + 1);
  return uses;
}

/** Nodes that are inlined into their (single, elementwise) user's region. */
function absorbedNodes(g: Graph): Set<Node> {
  const uses = useCounts(g);
  const absorbed = new Set<Node>();
  for (const n of toposort(g)) {
    if (!isElementwise(n.op)) continue;
    for (const s of n.src) if (isElementwise(s.op) && uses.get(s) === 1) absorbed.add(s);
  }
  return absorbed;
}

function substituteInputs(e: Expr, args: readonly Expr[]): Expr {
  if (e.kind === 'input') return args[e.index]!;
  if (e.kind === 'const') return e;
  return { kind: 'op', op: e.op, attrs: e.attrs, args: e.args.map((a) => substituteInputs(a, args)) };
}

function countOps(e: Expr): number {
  return e.kind === 'op' ? 1 + e.args.reduce((k, a) => k + countOps(a), 0) : 0;
}

interface Region {
  readonly expr: Expr;
  readonly operands: readonly Node[];
  readonly ops: number;
}

function literalOf(n: Node): number | undefined {
  const v = n.attrs['value'];
  return n.op === 'const' && typeof v === 'number' && isFloat(n.type.dtype) ? castValue(v, n.type.dtype) : undefined;
}

/** The region's expression over rebuilt operands; `memo` maps original leaves to their rebuilt nodes. */
function buildRegion(root: Node, absorbed: Set<Node>, memo: Map<Node, Node>, literals: boolean): Region {
  const operands: Node[] = [];
  const index = new Map<Node, number>();
  let ops = 0;
  const leaf = (m: Node): Expr => {
    const lit = literals ? literalOf(m) : undefined;
    if (lit !== undefined) return { kind: 'const', value: lit };
    const r = memo.get(m) ?? m;
    if (!index.has(r)) index.set(r, operands.push(r) - 1);
    return { kind: 'input', index: index.get(r)! };
  };
  const visit = (m: Node, isRoot: boolean): Expr => {
    if (!isRoot && !absorbed.has(m)) return leaf(m);
    const args = m.src.map((s) => visit(s, false));
    if (m.op !== 'fused') {
      ops++;
      return { kind: 'op', op: m.op, attrs: m.attrs, args };
    }
    const inner = parseExpr(m.attrs['expr'] as string);
    ops += countOps(inner);
    return substituteInputs(inner, args);
  };
  return { expr: visit(root, true), operands, ops };
}

function fusedNode(root: Node, r: Region): Node | undefined {
  const attrs: Record<string, AttrValue> = { expr: printExpr(r.expr) };
  if (r.operands[0]?.type.dtype !== root.type.dtype) attrs['dtype'] = root.type.dtype;
  const f = node('fused', r.operands, attrs as Attrs);
  return sameType(f.type, root.type) ? f : undefined;
}

function rebuild(n: Node, memo: Map<Node, Node>): Node {
  const src = n.src.map((s) => memo.get(s) ?? s);
  return src.every((s, i) => s === n.src[i]) ? n : node(n.op, src, n.attrs, n.src.length ? undefined : n.type);
}

function fuseRoot(root: Node, absorbed: Set<Node>, memo: Map<Node, Node>, ctx: PassContext): Node | undefined {
  const minOps = numberOption(ctx, 'fuse-elementwise', 'min-ops', 1);
  if (root.op === 'fused' && root.src.every((s) => !absorbed.has(s))) return undefined;
  // a literal drops its const's shape from the broadcast; when that shape mattered, keep consts as operands
  let region = buildRegion(root, absorbed, memo, true);
  let f = fusedNode(root, region);
  if (!f) {
    region = buildRegion(root, absorbed, memo, false);
    f = fusedNode(root, region);
  }
  // an inlined fused node that ignored an operand can leave the result shape underdetermined: keep it unfused
  if (!f) bumpStat(ctx, 'fuse-elementwise.skipped');
  if (!f || region.ops < minOps) return undefined;
  bumpStat(ctx, 'fuse-elementwise.kernels');
  bumpStat(ctx, 'fuse-elementwise.ops', region.ops);
  return f;
}

export const fuseElementwise = definePass({
  name: 'fuse-elementwise',
  description: 'merge trees of single-use elementwise ops into one fused{expr} kernel each (option min-ops=1)',
  run: (g, ctx) => {
    checkOptions(ctx, 'fuse-elementwise', ['min-ops']);
    const absorbed = absorbedNodes(g);
    const inputs = new Set(g.inputs);
    const memo = new Map<Node, Node>();
    for (const n of toposort(g)) {
      if (inputs.has(n)) continue;
      // absorbed nodes are rebuilt too, for the regions that min-ops leaves unfused
      const fused = isElementwise(n.op) && !absorbed.has(n) ? fuseRoot(n, absorbed, memo, ctx) : undefined;
      memo.set(n, fused ?? rebuild(n, memo));
    }
    const outputs = g.outputs.map((o) => memo.get(o) ?? o);
    return outputs.every((o, i) => o === g.outputs[i]) ? g : graph(g.name, g.inputs, outputs);
  },
});
