import { graph, IRError, node, toposort, users, type Graph, type Node } from '../ir/index.ts';
import type { PassContext } from './pass.ts';
import { applyFirst, type Rule } from './pattern.ts';

/**
 * Who reads each node; rules that fuse a value into its reader need it to be the only one. Answers are about the
 * graph the sweep started from: a node the sweep rebuilt or rewrote stands for the original it replaces (a fused
 * node has the readers of the node it replaced, so counts stay valid through a sweep).
 */
export interface UseInfo {
  /** the distinct readers of n, as original nodes */
  usersOf(n: Node): readonly Node[];
  /** n's only reader (original node), or undefined when it has several, none, or is a graph output */
  soleUser(n: Node): Node | undefined;
  /** whether `reader` (or the node it stands for) is n's only reader */
  isSoleReader(n: Node, reader: Node): boolean;
  isOutput(n: Node): boolean;
  /** the original node n stands for (n itself unless the sweep rebuilt or rewrote it) */
  originOf(n: Node): Node;
}

function useInfo(g: Graph, origin: ReadonlyMap<Node, Node>): UseInfo {
  const u = users(g);
  const outputs = new Set(g.outputs);
  const orig = (n: Node): Node => origin.get(n) ?? n;
  const soleUser = (n: Node): Node | undefined => {
    const list = u.get(orig(n));
    return list?.length === 1 && !outputs.has(orig(n)) ? list[0] : undefined;
  };
  return {
    usersOf: (n) => u.get(orig(n)) ?? [],
    soleUser,
    isSoleReader: (n, reader) => soleUser(n) === orig(reader) && soleUser(n) !== undefined,
    isOutput: (n) => outputs.has(orig(n)),
    originOf: orig,
  };
}

/**
 * One bottom-up sweep with rules built over the input graph's uses (see UseInfo): sources are rewritten before
 * their readers, and every rebuilt or rewritten node is mapped back to the original it replaces, so a chain of
 * fusions (gelu, then gate, then residual) completes in one sweep. Returns g itself when no rule applied.
 */
export function rewriteWithUses(
  g: Graph, rules: (uses: UseInfo) => readonly Rule[], ctx: PassContext, prefix: string, maxLocal = 64,
): Graph {
  const origin = new Map<Node, Node>();
  const table = rules(useInfo(g, origin));
  const memo = new Map<Node, Node>();
  const inputs = new Set(g.inputs);
  for (const n of toposort(g)) {
    if (inputs.has(n)) continue;
    const src = n.src.map((s) => memo.get(s) ?? s);
    let cur = src.every((s, i) => s === n.src[i]) ? n : node(n.op, src, n.attrs, n.src.length ? undefined : n.type);
    if (cur !== n) origin.set(cur, n);
    for (let k = 0; ; k++) {
      if (k === maxLocal) throw new IRError(`${prefix}: rewrite did not settle on ${n.key} (rules cycle?)`);
      const next = applyFirst(cur, table, ctx, prefix);
      if (next === undefined) break;
      origin.set(next, n);
      cur = next;
    }
    if (cur !== n) memo.set(n, cur);
  }
  const outputs = g.outputs.map((o) => memo.get(o) ?? o);
  return outputs.every((o, i) => o === g.outputs[i]) ? g : graph(g.name, g.inputs, outputs);
}
