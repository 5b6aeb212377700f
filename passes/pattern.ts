import { graph, IRError, node, sameType, toposort, type Attrs, type Graph, type Node, type Op } from '../ir/index.ts';
import { bumpStat, type PassContext } from './pass.ts';

/**
 * A structural pattern over nodes. `K` is the union of capture names it binds (phantom, for typed rewrites).
 * Matching never mutates: captures are written into a scratch map that is thrown away on failure.
 */
export interface Pattern<K extends string = never> {
  readonly captures?: K;
  match(n: Node, caps: Map<string, Node>): boolean;
}

type CapsOf<P> = P extends Pattern<infer K> ? K : never;

export interface PatOptions {
  /** predicate over the node's attributes */
  readonly attrs?: (a: Attrs, n: Node) => boolean;
}

/**
 * Matches a node whose op is `op` (or one of `op`) and whose sources match `src` one-to-one. Leave `src` out to
 * accept any sources.
 */
export function pat<const P extends readonly Pattern<string>[] = []>(
  op: Op | readonly Op[],
  src?: P,
  opts: PatOptions = {},
): Pattern<CapsOf<P[number]>> {
  const ops: readonly Op[] = typeof op === 'string' ? [op] : op;
  return {
    match(n, caps) {
      if (!ops.includes(n.op)) return false;
      if (opts.attrs && !opts.attrs(n.attrs, n)) return false;
      if (!src) return true;
      return n.src.length === src.length && src.every((p, i) => p.match(n.src[i]!, caps));
    },
  };
}

/** Matches any node (satisfying `pred`) and binds it to `name`; a name bound twice must bind the same node. */
export function any<const N extends string>(name: N, pred?: (n: Node) => boolean): Pattern<N> {
  return {
    match(n, caps) {
      if (pred && !pred(n)) return false;
      const prev = caps.get(name);
      if (prev !== undefined) return prev === n;
      caps.set(name, n);
      return true;
    },
  };
}

export type Captures<K extends string> = { readonly [P in K]: Node };
export type Rewrite<K extends string> = (caps: Captures<K>, n: Node, ctx: PassContext) => Node | undefined;

/** One local rewrite: `rewrite` returns the replacement (of the same type) or undefined for "does not apply". */
export interface Rule {
  readonly name: string;
  apply(n: Node, ctx: PassContext): Node | undefined;
}

export function rule<K extends string>(name: string, matcher: Pattern<K>, rewrite: Rewrite<K>): Rule {
  return {
    name,
    apply(n, ctx) {
      const caps = new Map<string, Node>();
      if (!matcher.match(n, caps)) return undefined;
      return rewrite(Object.fromEntries(caps) as Captures<K>, n, ctx);
    },
  };
}

export interface RewriteOptions {
  /** repeat whole-graph sweeps until no rule applies (default true) */
  readonly fixedPoint?: boolean;
  /** sweeps before giving up with an IRError (default 32) */
  readonly maxIterations?: number;
  /** counter prefix in ctx.stats, usually the pass name; stats are `<prefix>.<rule>` */
  readonly statPrefix?: string;
}

// a single node rewritten this many times in a row means two rules undo each other
const MAX_LOCAL_REWRITES = 64;

/** The first rule's rewrite of n that changes it (type-checked, counted in ctx.stats), or undefined. */
export function applyFirst(n: Node, rules: readonly Rule[], ctx: PassContext, prefix: string): Node | undefined {
  for (const r of rules) {
    const out = r.apply(n, ctx);
    if (out === undefined || out === n) continue;
    if (!sameType(out.type, n.type)) {
      throw new IRError(`rule ${r.name}: replacement ${out.key} changes the type of ${n.key}`);
    }
    bumpStat(ctx, prefix ? `${prefix}.${r.name}` : r.name);
    return out;
  }
  return undefined;
}

function rewriteNode(n: Node, rules: readonly Rule[], ctx: PassContext, prefix: string): { node: Node; hits: number } {
  let cur = n;
  for (let hits = 0; hits < MAX_LOCAL_REWRITES; hits++) {
    const next = applyFirst(cur, rules, ctx, prefix);
    if (next === undefined) return { node: cur, hits };
    cur = next;
  }
  throw new IRError(`rewrite did not settle on ${n.key} after ${MAX_LOCAL_REWRITES} rewrites (rules cycle?)`);
}

/** One bottom-up sweep: sources are rewritten before their users, users are rebuilt over the new sources. */
function sweep(g: Graph, rules: readonly Rule[], ctx: PassContext, prefix: string): { graph: Graph; hits: number } {
  const memo = new Map<Node, Node>();
  const inputs = new Set(g.inputs);
  let hits = 0;
  for (const n of toposort(g)) {
    if (inputs.has(n)) {
      memo.set(n, n);
      continue;
    }
    const src = n.src.map((s) => memo.get(s) ?? s);
    const same = src.every((s, i) => s === n.src[i]);
    const rebuilt = same ? n : node(n.op, src, n.attrs, n.src.length ? undefined : n.type);
    const r = rewriteNode(rebuilt, rules, ctx, prefix);
    hits += r.hits;
    memo.set(n, r.node);
  }
  const outputs = g.outputs.map((o) => memo.get(o) ?? o);
  if (outputs.every((o, i) => o === g.outputs[i])) return { graph: g, hits };
  return { graph: graph(g.name, g.inputs, outputs), hits };
}

/**
 * Applies the first matching rule at every node, bottom-up, and (by default) repeats until a sweep changes
 * nothing. Returns `g` itself when no rule applied. Each application bumps `ctx.stats['<prefix>.<rule>']`.
 */
export function rewriteGraph(g: Graph, rules: readonly Rule[], ctx: PassContext, opts: RewriteOptions = {}): Graph {
  const { fixedPoint = true, maxIterations = 32, statPrefix = '' } = opts;
  let cur = g;
  for (let i = 0; i < maxIterations; i++) {
    const { graph: next, hits } = sweep(cur, rules, ctx, statPrefix);
    cur = next;
    if (!fixedPoint || hits === 0) return cur;
  }
  const names = rules.map((r) => r.name).join(', ');
  throw new IRError(`rewriteGraph(${g.name}): no fixed point after ${maxIterations} sweeps (rules: ${names})`);
}
