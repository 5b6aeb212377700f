import { isFloat, type DType } from '../../ir/dtype.ts';
import { IRError } from '../../ir/errors.ts';
import { node, type Node } from '../../ir/node.ts';
import { formatType, numel, type Shape } from '../../ir/types.ts';

/**
 * Small node builders the VJP rules share. Everything is expressed in existing IR ops so a gradient graph runs on
 * every target that runs its forward graph; scalar constants have shape [] and broadcast.
 */

/** The dtype a node's cotangent has: its own for floats; f32 for integer nodes (straight-through, e.g. quantize). */
export function cotangentDtype(n: Node): DType {
  return isFloat(n.type.dtype) ? n.type.dtype : 'f32';
}

export function scalar(value: number, dtype: DType = 'f32'): Node {
  return node('const', [], { value }, { dtype, shape: [] });
}

export function filled(value: number, dtype: DType, shape: Shape): Node {
  return node('const', [], { value }, { dtype, shape: [...shape] });
}

export const add = (a: Node, b: Node): Node => node('add', [a, b]);
export const sub = (a: Node, b: Node): Node => node('sub', [a, b]);
export const mul = (a: Node, b: Node): Node => node('mul', [a, b]);
export const div = (a: Node, b: Node): Node => node('div', [a, b]);
export const neg = (a: Node): Node => node('neg', [a]);
export const unary = (op: 'exp' | 'log' | 'sin' | 'cos' | 'sigmoid' | 'tanh' | 'square' | 'abs', a: Node): Node =>
  node(op, [a]);

/** a · value for a scalar constant value (in a's dtype). */
export function scale(a: Node, value: number): Node {
  return value === 1 ? a : mul(a, scalar(value, a.type.dtype));
}

/** 1 where x > 0, else 0 (NaN → 0), in x's dtype: relu then the x ≠ 0 cast, as no comparison op exists. */
export function step(x: Node): Node {
  return node('cast', [node('cast', [node('relu', [x])], { to: 'bool' })], { to: x.type.dtype });
}

/** x ≠ 0 as a bool tensor. */
export function nonzero(x: Node): Node {
  return node('cast', [x], { to: 'bool' });
}

export function reshape(x: Node, shape: Shape): Node {
  return x.type.shape.join() === shape.join() ? x : node('reshape', [x], { shape: [...shape] });
}

/** The sum of g over the axes along which `shape` was broadcast to g's shape (numpy rules), reshaped to `shape`. */
export function sumTo(g: Node, shape: Shape): Node {
  const gs = g.type.shape;
  if (gs.join() === shape.join()) return g;
  const lead = gs.length - shape.length;
  if (lead < 0) throw new IRError(`autodiff: cannot sum ${formatType(g.type)} down to [${shape.join(',')}]`);
  const axes: number[] = [];
  gs.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  const summed = axes.length ? node('reduce_sum', [g], { axes, keepdims: false }) : g;
  if (numel(summed.type.shape) !== numel(shape)) {
    throw new IRError(`autodiff: cannot sum ${formatType(g.type)} down to [${shape.join(',')}]`);
  }
  return reshape(summed, shape);
}

/** x broadcast to `shape` (numpy rules) as an explicit tensor: x + 0. */
export function expandTo(x: Node, shape: Shape): Node {
  if (x.type.shape.join() === shape.join()) return x;
  return add(x, filled(0, x.type.dtype, shape));
}

/** Swaps the last two axes. */
export function transposeLast(x: Node): Node {
  const r = x.type.shape.length;
  return node('transpose', [x], { dim0: r - 2, dim1: r - 1 });
}

/** Accumulates two cotangents of one node. */
export function accumulate(prev: Node | undefined, next: Node): Node {
  return prev ? add(prev, next) : next;
}
