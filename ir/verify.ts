import { isDType } from './dtype.ts';
import { IRError, ParseError } from './errors.ts';
import { maxInputIndex, parseExpr } from './expr-text.ts';
import { toposort, type Graph } from './graph.ts';
import { inferType } from './infer.ts';
import type { Node } from './node.ts';
import { isLeaf, isOp } from './ops.ts';
import { printNode } from './print.ts';
import { formatType, sameType } from './types.ts';

function fail(n: Node, msg: string): never {
  throw new IRError(`verify: ${msg}\n  at ${printNode(n)}`);
}

function checkType(n: Node): void {
  const { dtype, shape } = n.type;
  if (!isDType(dtype)) fail(n, `unknown dtype '${dtype}'`);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) fail(n, `shape [${shape.join(',')}] is not a list of sizes`);
}

function checkLeaf(n: Node): void {
  if (n.src.length) fail(n, `${n.op} is a leaf but has ${n.src.length} operands`);
  if (n.op === 'const') {
    if (typeof n.attrs['value'] !== 'number') fail(n, 'const needs a numeric value attribute');
  } else if (typeof n.attrs['name'] !== 'string') {
    fail(n, `${n.op} needs a string name attribute`);
  }
}

function checkInferred(n: Node): void {
  let t;
  try {
    t = inferType(n.op, n.src.map((s) => s.type), n.attrs);
  } catch (e) {
    if (e instanceof IRError) fail(n, e.message);
    throw e;
  }
  if (!sameType(t, n.type)) fail(n, `type ${formatType(n.type)} differs from the inferred ${formatType(t)}`);
}

function checkFused(n: Node): void {
  const text = n.attrs['expr'];
  if (typeof text !== 'string') fail(n, 'fused needs a string expr attribute');
  try {
    const max = maxInputIndex(parseExpr(text));
    if (max >= n.src.length) fail(n, `expr reads $${max} but the node has ${n.src.length} operands`);
  } catch (e) {
    if (e instanceof ParseError) fail(n, `expr ${JSON.stringify(text)}: ${e.message}`);
    throw e;
  }
}

// a name must denote one value: two distinct leaves with one name are two weights (or inputs) that alias
function checkUniqueNames(nodes: readonly Node[]): void {
  const seen = new Map<string, Node>();
  for (const n of nodes) {
    if (n.op !== 'param' && n.op !== 'input') continue;
    const key = `${n.op}:${String(n.attrs['name'])}`;
    const prev = seen.get(key);
    if (!prev) {
      seen.set(key, n);
      continue;
    }
    const why = sameType(prev.type, n.type)
      ? `differs only in attributes from ${printNode(prev)}`
      : `has type ${formatType(n.type)} but also ${formatType(prev.type)}`;
    fail(n, `${n.op} name "${String(n.attrs['name'])}" is used twice: it ${why}`);
  }
}

/** Re-checks every invariant of the graph; throws an IRError naming the offending node in text form. */
export function verify(g: Graph): void {
  if (g.outputs.length === 0) throw new IRError(`verify: graph ${g.name} has no outputs`);
  for (const i of g.inputs) if (i.op !== 'input') fail(i, 'graph inputs must be input nodes');
  const dup = g.inputs.find((i, k) => g.inputs.indexOf(i) !== k);
  if (dup) fail(dup, 'the graph lists this input twice');
  const nodes = toposort(g);
  for (const n of nodes) {
    if (!isOp(n.op)) fail(n, `unknown op '${n.op}'`);
    checkType(n);
    if (isLeaf(n.op)) checkLeaf(n);
    else checkInferred(n);
    if (n.op === 'fused') checkFused(n);
  }
  checkUniqueNames(nodes);
}
