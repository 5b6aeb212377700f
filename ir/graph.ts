import { IRError } from './errors.ts';
import { node, type Node } from './node.ts';
import type { Op } from './ops.ts';

/** A graph is its named inputs and its outputs; everything else is derived by walking the sources. */
export interface Graph {
  readonly name: string;
  readonly inputs: readonly Node[];
  readonly outputs: readonly Node[];
}

export function graph(name: string, inputs: readonly Node[], outputs: readonly Node[]): Graph {
  for (const i of inputs) if (i.op !== 'input') throw new IRError(`graph inputs must be input nodes, got ${i.op}`);
  return Object.freeze({ name, inputs: Object.freeze([...inputs]), outputs: Object.freeze([...outputs]) });
}

/** Nodes reachable from the outputs, sources before users; deterministic (depth-first in source order). */
export function toposort(g: Graph): Node[] {
  const seen = new Set<Node>();
  const order: Node[] = [];
  for (const i of g.inputs) {
    seen.add(i);
    order.push(i);
  }
  // iterative post-order: graphs of 40+ blocks are deeper than a comfortable JS recursion
  for (const root of g.outputs) {
    const stack: [Node, number][] = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [n, i] = top;
      if (seen.has(n) && i === 0) {
        stack.pop();
        continue;
      }
      if (i < n.src.length) {
        top[1]++;
        const s = n.src[i]!;
        if (!seen.has(s)) stack.push([s, 0]);
        continue;
      }
      stack.pop();
      if (!seen.has(n)) {
        seen.add(n);
        order.push(n);
      }
    }
  }
  return order;
}

/** For each node, the nodes that use it (graph outputs are not listed). */
export function users(g: Graph): Map<Node, Node[]> {
  const u = new Map<Node, Node[]>();
  for (const n of toposort(g)) {
    if (!u.has(n)) u.set(n, []);
    for (const s of n.src) {
      const list = u.get(s) ?? [];
      if (!list.includes(n)) list.push(n);
      u.set(s, list);
    }
  }
  return u;
}

/**
 * Rebuilds the graph with some nodes swapped. Replacements apply to the original nodes; users are rebuilt
 * bottom-up so every path sees the new node. A replacement must keep its node's type.
 */
export function substitute(g: Graph, swaps: ReadonlyMap<Node, Node>): Graph {
  if (swaps.size === 0) return g;
  const memo = new Map<Node, Node>();
  for (const n of toposort(g)) {
    const swap = swaps.get(n);
    if (swap) {
      if (swap.type.dtype !== n.type.dtype || swap.type.shape.join() !== n.type.shape.join()) {
        throw new IRError(`substitute: replacement for ${n.op} changes its type`);
      }
      memo.set(n, swap === n ? n : (memo.get(swap) ?? swap));
      continue;
    }
    const src = n.src.map((s) => memo.get(s) ?? s);
    const same = src.every((s, i) => s === n.src[i]);
    memo.set(n, same ? n : node(n.op, src, n.attrs, n.src.length ? undefined : n.type));
  }
  const map = (n: Node): Node => memo.get(n) ?? n;
  return graph(g.name, g.inputs.map(map), g.outputs.map(map));
}

/** Nodes of each op; handy for pass statistics and tests. */
export function stats(g: Graph): Partial<Record<Op, number>> {
  const s: Partial<Record<Op, number>> = {};
  for (const n of toposort(g)) s[n.op] = (s[n.op] ?? 0) + 1;
  return s;
}

export function params(g: Graph): Node[] {
  return toposort(g).filter((n) => n.op === 'param');
}
