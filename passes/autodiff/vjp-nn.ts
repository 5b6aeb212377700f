import { node, type Node } from '../../ir/node.ts';
import type { Op } from '../../ir/ops.ts';
import { normAxis } from '../../ir/types.ts';
import {
  add, div, expandTo, mul, reshape, scalar, scale, step, sub, sumTo, transposeLast,
} from './ad-ops.ts';
import { composite, type Vjp } from './vjp.ts';

function reducedAxes(n: Node): number[] {
  const rank = n.src[0]!.type.shape.length;
  return (n.attrs['axes'] as readonly number[]).map((a) => normAxis(a, rank)!);
}

/** The reduction's cotangent with the reduced axes kept as size 1, so it broadcasts against x. */
function keptCotangent(n: Node, g: Node, axes: readonly number[]): Node {
  return reshape(g, n.src[0]!.type.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

const reduceSum: Vjp = (n, g) => [() => expandTo(keptCotangent(n, g, reducedAxes(n)), n.src[0]!.type.shape)];

const reduceMean: Vjp = (n, g) => [() => {
  const axes = reducedAxes(n);
  const count = axes.reduce((c, a) => c * n.src[0]!.type.shape[a]!, 1);
  return expandTo(scale(keptCotangent(n, g, axes), 1 / count), n.src[0]!.type.shape);
}];

// the cotangent is shared equally among the elements equal to the maximum (as torch.amax does)
const reduceMax: Vjp = (n, g) => [() => {
  const x = n.src[0]!;
  const axes = reducedAxes(n);
  const isMax = sub(scalar(1, x.type.dtype), step(sub(keptCotangent(n, n, axes), x)));
  const count = node('reduce_sum', [isMax], { axes, keepdims: true });
  return mul(keptCotangent(n, g, axes), div(isMax, count));
}];

// y = a b: da = g bᵀ, db = aᵀ g, each summed over the batch axes its operand was broadcast along
const matmul: Vjp = (n, g) => {
  const [a, b] = [n.src[0]!, n.src[1]!];
  return [
    () => sumTo(node('matmul', [g, transposeLast(b)]), a.type.shape),
    () => sumTo(node('matmul', [transposeLast(a), g]), b.type.shape),
  ];
};

// y = x wᵀ + b: dx = g w, dw = gᵀ x over all rows, db = Σ_rows g
const linear: Vjp = (n, g) => {
  const [x, w] = [n.src[0]!, n.src[1]!];
  const [N, K] = w.type.shape as [number, number];
  const rows = x.type.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return [
    () => node('linear', [g, node('transpose', [w], { dim0: 0, dim1: 1 })]),
    () => node('matmul', [transposeLast(reshape(g, [rows, N])), reshape(x, [rows, K])]),
    () => sumTo(g, [N]),
  ];
};

function lastAxisMean(x: Node): Node {
  return node('reduce_mean', [x], { axes: [x.type.shape.length - 1], keepdims: true });
}

function affine(y: Node, w: Node | undefined, b: Node | undefined): Node {
  const yw = w ? mul(y, w) : y;
  return b ? add(yw, b) : yw;
}

// (x − μ) / √(σ² + eps) · w + b, σ² the biased variance, as the reference computes it
const layernorm = composite((n) => {
  const [x, w, b] = [n.src[0]!, n.src[1], n.src[2]];
  const xc = sub(x, lastAxisMean(x));
  const eps = scalar(n.attrs['eps'] as number, x.type.dtype);
  return affine(mul(xc, node('rsqrt', [add(lastAxisMean(node('square', [xc])), eps)])), w, b);
});

const rmsnorm = composite((n) => {
  const [x, w] = [n.src[0]!, n.src[1]];
  const eps = scalar(n.attrs['eps'] as number, x.type.dtype);
  return affine(mul(x, node('rsqrt', [add(lastAxisMean(node('square', [x])), eps)])), w, undefined);
});

// dx = y ⊙ (g − Σ_axis g ⊙ y)
const softmax: Vjp = (n, g) => [() => {
  const axis = normAxis((n.attrs['axis'] as number | undefined) ?? -1, n.type.shape.length)!;
  return mul(n, sub(g, node('reduce_sum', [mul(g, n)], { axes: [axis], keepdims: true })));
}];

// softmax(q kᵀ·scale + mask) v, recomputed from its parts; a bool mask sends masked scores to −∞
const attention = composite((n) => {
  const [q, k, v, m] = [n.src[0]!, n.src[1]!, n.src[2]!, n.src[3]];
  let s = scale(node('matmul', [q, transposeLast(k)]), n.attrs['scale'] as number);
  if (m) s = m.type.dtype === 'bool' ? node('where', [m, s, scalar(-Infinity, s.type.dtype)]) : add(s, m);
  return node('matmul', [node('softmax', [s], { axis: 3 }), v]);
});

export const NN_VJPS: Partial<Record<Op, Vjp>> = {
  reduce_sum: reduceSum,
  reduce_mean: reduceMean,
  reduce_max: reduceMax,
  matmul,
  linear,
  layernorm,
  rmsnorm,
  softmax,
  attention,
};
