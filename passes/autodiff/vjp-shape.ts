import { node, type Node } from '../../ir/node.ts';
import type { Op } from '../../ir/ops.ts';
import { normAxis } from '../../ir/types.ts';
import { filled, reshape } from './ad-ops.ts';
import type { Vjp } from './vjp.ts';

function axisOf(n: Node, rank: number): number {
  return normAxis(n.attrs['axis'] as number, rank)!;
}

function withAxis(shape: readonly number[], axis: number, size: number): number[] {
  return shape.map((d, i) => (i === axis ? size : d));
}

function zerosLike(g: Node, shape: readonly number[]): Node {
  return filled(0, g.type.dtype, shape);
}

/** g spread out to every `step`-th position along `axis` (zeros between), at most `limit` long. */
function interleave(g: Node, axis: number, step: number, limit: number): Node {
  if (step === 1) return g;
  const s = g.type.shape;
  const m = s[axis]!;
  const split = [...s.slice(0, axis + 1), 1, ...s.slice(axis + 1)];
  const gaps = zerosLike(g, [...s.slice(0, axis + 1), step - 1, ...s.slice(axis + 1)]);
  const spread = reshape(node('concat', [reshape(g, split), gaps], { axis: axis + 1 }), withAxis(s, axis, m * step));
  const len = Math.min(m * step, limit);
  return len === m * step ? spread : node('slice', [spread], { axis, start: 0, end: len, step: 1 });
}

// the cotangent of a slice is g scattered back into zeros of x's shape
const slice: Vjp = (n, g) => [() => {
  const xs = n.src[0]!.type.shape;
  const axis = axisOf(n, xs.length);
  const [start, step] = [n.attrs['start'] as number, (n.attrs['step'] as number | undefined) ?? 1];
  const body = interleave(g, axis, step, xs[axis]! - start);
  const after = xs[axis]! - start - body.type.shape[axis]!;
  const parts = [
    ...(start > 0 ? [zerosLike(g, withAxis(xs, axis, start))] : []),
    body,
    ...(after > 0 ? [zerosLike(g, withAxis(xs, axis, after))] : []),
  ];
  return parts.length === 1 ? body : node('concat', parts, { axis });
}];

const concat: Vjp = (n, g) => {
  const axis = axisOf(n, n.type.shape.length);
  let at = 0;
  return n.src.map((s) => {
    const start = at;
    at += s.type.shape[axis]!;
    return () => node('slice', [g], { axis, start, end: start + s.type.shape[axis]!, step: 1 });
  });
};

const permute: Vjp = (n, g) => [() => {
  const perm = n.attrs['perm'] as readonly number[];
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return node('permute', [g], { perm: inv });
}];

/** (x[2i], x[2i+1]) → (x[2i+1], x[2i]) along the last axis. */
function swapPairs(x: Node): Node {
  const s = x.type.shape;
  const r = s.length;
  const pairs = reshape(x, [...s.slice(0, -1), s[r - 1]! / 2, 2]);
  const odd = node('slice', [pairs], { axis: r, start: 1, end: 2, step: 1 });
  const even = node('slice', [pairs], { axis: r, start: 0, end: 1, step: 1 });
  return reshape(node('concat', [odd, even], { axis: r }), s);
}

// rope3d is orthogonal, so its VJP is the inverse rotation R(−θ) = P R(θ) P with P the pair swap: no new op needed
const rope3d: Vjp = (n, g) => [() => swapPairs(node('rope3d', [swapPairs(g)], n.attrs))];

export const SHAPE_VJPS: Partial<Record<Op, Vjp>> = {
  reshape: (n, g) => [() => reshape(g, n.src[0]!.type.shape)],
  permute,
  transpose: (n, g) => [() => node('transpose', [g], n.attrs)],
  concat,
  slice,
  rope3d,
};
