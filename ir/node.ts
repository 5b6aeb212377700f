import type { Attrs, AttrValue, Op } from './ops.ts';
import { formatType, type TensorType } from './types.ts';
import { inferType } from './infer.ts';

/**
 * An immutable, hash-consed IR node: two structurally equal nodes are the same object, so `===` is structural
 * equality and common subexpressions are shared by construction.
 */
export interface Node {
  readonly id: number;
  readonly op: Op;
  readonly type: TensorType;
  readonly src: readonly Node[];
  readonly attrs: Attrs;
  /** structural key: op, attrs, type and source ids */
  readonly key: string;
}

const INTERN = new Map<string, WeakRef<Node>>();
const REGISTRY = new FinalizationRegistry<string>((key) => {
  const ref = INTERN.get(key);
  if (ref && ref.deref() === undefined) INTERN.delete(key);
});
let nextId = 0;

export function attrText(v: AttrValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => attrText(x as AttrValue)).join(',')}]`;
  return String(v);
}

export function attrsText(attrs: Attrs): string {
  const keys = Object.keys(attrs).sort();
  return keys.map((k) => `${k}=${attrText(attrs[k]!)}`).join(', ');
}

/** Creates (or finds) the node; the type is inferred from the sources unless given (leaves must give it). */
export function node(op: Op, src: readonly Node[] = [], attrs: Attrs = {}, type?: TensorType): Node {
  const t = type ?? inferType(op, src.map((s) => s.type), attrs);
  const clean: Record<string, AttrValue> = {};
  for (const k of Object.keys(attrs).sort()) clean[k] = attrs[k]!;
  const key = `${op}{${attrsText(clean)}}:${formatType(t)}(${src.map((s) => s.id).join(',')})`;
  const hit = INTERN.get(key)?.deref();
  if (hit) return hit;
  const n: Node = Object.freeze({
    id: nextId++,
    op,
    type: Object.freeze({ dtype: t.dtype, shape: Object.freeze([...t.shape]) }),
    src: Object.freeze([...src]),
    attrs: Object.freeze(clean),
    key,
  });
  INTERN.set(key, new WeakRef(n));
  REGISTRY.register(n, key);
  return n;
}

/** The same node with some fields replaced (a new node unless nothing changed). */
export function replace(n: Node, with_: { src?: readonly Node[]; attrs?: Attrs; type?: TensorType }): Node {
  const src = with_.src ?? n.src;
  const attrs = with_.attrs ?? n.attrs;
  return node(n.op, src, attrs, with_.type ?? (n.src.length === 0 || with_.type ? n.type : undefined));
}

export function attr<T extends AttrValue>(n: Node, name: string, fallback?: T): T {
  const v = n.attrs[name];
  if (v === undefined) {
    if (fallback === undefined) throw new Error(`${n.op}: missing attribute ${name}`);
    return fallback;
  }
  return v as T;
}
