import { isFloat } from '../../ir/dtype.ts';
import { IRError } from '../../ir/errors.ts';
import { graph, toposort, type Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { printNode } from '../../ir/print.ts';
import { formatType, sameShape } from '../../ir/types.ts';
import { accumulate, cotangentDtype, filled } from './ad-ops.ts';
import { supportedOps, VJP_RULES } from './vjp-rules.ts';
import type { VjpContext } from './vjp.ts';

export interface GradOptions {
  /** index of the scalar objective among g's outputs; default 0 */
  readonly loss?: number;
  /** names of the input or param leaves to differentiate with respect to */
  readonly wrt: readonly string[];
}

/**
 * Reverse mode: a new graph over g's inputs whose outputs are [loss, d loss/d wrt_0, ...]. Only nodes on a path
 * from a wrt leaf to the loss are differentiated; a wrt leaf the loss does not depend on gets a zero gradient.
 * The gradient of an integer leaf is f32 (straight-through). Params keep their names, so g's weights still apply.
 */
export function grad(g: Graph, opts: GradOptions): Graph {
  const loss = lossOf(g, opts.loss ?? 0);
  const leaves = findLeaves(g, opts.wrt);
  const cts = backprop(loss, filled(1, loss.type.dtype, loss.type.shape), leaves);
  const grads = leaves.map((l) => cts.get(l) ?? filled(0, cotangentDtype(l), l.type.shape));
  return graph(`${g.name}_grad`, g.inputs, [loss, ...grads]);
}

function lossOf(g: Graph, index: number): Node {
  const loss = g.outputs[index];
  if (!loss) {
    throw new IRError(`grad: loss index ${index} is out of range (graph '${g.name}' has ${g.outputs.length} outputs)`);
  }
  const s = loss.type.shape;
  if (!(s.length === 0 || (s.length === 1 && s[0] === 1)) || !isFloat(loss.type.dtype)) {
    throw new IRError(`grad: the loss (output ${index}) must be a float scalar of shape [] or [1], `
      + `got ${formatType(loss.type)}\n  at ${printNode(loss)}`);
  }
  return loss;
}

function findLeaves(g: Graph, wrt: readonly string[]): Node[] {
  if (wrt.length === 0) throw new IRError('grad: wrt names no input or param');
  const byName = new Map<string, Node[]>();
  for (const n of toposort(g)) {
    const name = n.attrs['name'];
    if ((n.op === 'input' || n.op === 'param') && typeof name === 'string') {
      byName.set(name, [...(byName.get(name) ?? []), n]);
    }
  }
  return wrt.map((name, i) => {
    if (wrt.indexOf(name) !== i) throw new IRError(`grad: wrt names '${name}' twice`);
    const found = byName.get(name);
    if (!found) {
      const have = [...byName.keys()].sort().join(', ') || 'none';
      throw new IRError(`grad: no input or param named '${name}' in graph '${g.name}' (have: ${have})`);
    }
    if (found.length > 1) throw new IRError(`grad: '${name}' names ${found.length} different leaves`);
    return found[0]!;
  });
}

const CONTEXT: VjpContext = { backprop };

/** Nodes of the sub-DAG under root that lie on a path from a target (targets included). */
function reaching(order: readonly Node[], targets: ReadonlySet<Node>): Set<Node> {
  const reach = new Set<Node>();
  for (const n of order) if (targets.has(n) || n.src.some((s) => reach.has(s))) reach.add(n);
  return reach;
}

/** Cotangents of `targets` given `seed` for root: a reverse topological sweep that stops at the targets. */
export function backprop(root: Node, seed: Node, targets: readonly Node[]): ReadonlyMap<Node, Node> {
  const order = toposort(graph('backprop', [], [root]));
  const stop = new Set(targets);
  const reach = reaching(order, stop);
  const cot = new Map<Node, Node>();
  if (reach.has(root)) cot.set(root, seed);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    const g = cot.get(n);
    if (!g || stop.has(n)) continue;
    const rule = VJP_RULES[n.op];
    if (!rule) {
      throw new IRError(`grad: no VJP rule for op '${n.op}' (supported: ${supportedOps().join(', ')})\n`
        + `  at ${printNode(n)}`);
    }
    const cts = rule(n, g, CONTEXT);
    n.src.forEach((s, j) => {
      const ct = cts[j];
      if (!ct || !reach.has(s)) return;
      cot.set(s, accumulate(cot.get(s), checked(ct(), s, n)));
    });
  }
  return new Map(targets.flatMap((t) => (cot.has(t) ? [[t, cot.get(t)!] as const] : [])));
}

function checked(ct: Node, s: Node, user: Node): Node {
  if (!sameShape(ct.type.shape, s.type.shape) || ct.type.dtype !== cotangentDtype(s)) {
    throw new IRError(`grad: the ${user.op} rule gave a ${formatType(ct.type)} cotangent for an operand of type `
      + `${formatType(s.type)}\n  at ${printNode(user)}`);
  }
  return ct;
}
