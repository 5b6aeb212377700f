import { node, type Node } from '../../ir/node.ts';
import type { Op } from '../../ir/ops.ts';
import {
  add, cotangentDtype, div, mul, neg, nonzero, scalar, scale, step, sub, sumTo, unary,
} from './ad-ops.ts';
import type { Cotangent, Vjp } from './vjp.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_C = 0.044715;

/** Unary rules as d = dy/dx in terms of x and y = n; the cotangent is g · d. */
type Derivative = (x: Node, y: Node, n: Node) => Node;

const one = (x: Node): Node => scalar(1, x.type.dtype);

// sign(x) = step(x) − step(−x): 0 at 0, the subgradient torch uses for abs
const sign = (x: Node): Node => sub(step(x), step(neg(x)));

/** Φ(x), the normal CDF, as gelu_erf(x) / x: the IR has no erf op; x = 0 takes Φ(0) = ½ instead. */
function normalCdf(x: Node, y: Node): Node {
  const nz = nonzero(x);
  const safeX = node('where', [nz, x, one(x)]);
  return node('where', [nz, div(y, safeX), scalar(0.5, x.type.dtype)]);
}

// d gelu_erf = Φ(x) + x·φ(x)
function geluErf(x: Node, y: Node): Node {
  const pdf = scale(unary('exp', scale(unary('square', x), -0.5)), INV_SQRT_2PI);
  return add(normalCdf(x, y), mul(x, pdf));
}

// y = ½x(1 + t), t = tanh(u), u = c(x + a x³): dy = ½(1 + t) + ½x(1 − t²)·c(1 + 3a x²)
function geluTanh(x: Node): Node {
  const x2 = unary('square', x);
  const u = scale(add(x, scale(mul(x2, x), GELU_C)), SQRT_2_OVER_PI);
  const t = unary('tanh', u);
  const du = scale(add(one(x), scale(x2, 3 * GELU_C)), SQRT_2_OVER_PI);
  const dt = sub(one(x), unary('square', t));
  return scale(add(add(one(x), t), mul(mul(x, dt), du)), 0.5);
}

const UNARY: Partial<Record<Op, Derivative>> = {
  abs: (x) => sign(x),
  exp: (_, y) => y,
  log: (x) => div(one(x), x),
  sqrt: (_, y) => div(scalar(0.5, y.type.dtype), y),
  rsqrt: (x, y) => scale(div(y, x), -0.5),
  recip: (_, y) => neg(unary('square', y)),
  square: (x) => scale(x, 2),
  tanh: (_, y) => sub(one(y), unary('square', y)),
  sigmoid: (_, y) => mul(y, sub(one(y), y)),
  relu: (x) => step(x),
  silu: (x) => {
    const s = unary('sigmoid', x);
    return mul(s, add(one(x), mul(x, sub(one(x), s))));
  },
  sin: (x) => unary('cos', x),
  cos: (x) => neg(unary('sin', x)),
  gelu: (x, y, n) => (n.attrs['approx'] === 'tanh' ? geluTanh(x) : geluErf(x, y)),
};

function unaryVjp(d: Derivative): Vjp {
  return (n, g) => [() => mul(g, d(n.src[0]!, n, n))];
}

// a cast between floats converts the cotangent back; float ↔ int is rounding, which passes straight through (STE,
// integer nodes carry f32 cotangents); casts from or to bool are piecewise constant, so no gradient
const cast: Vjp = (n, g) => {
  const x = n.src[0]!;
  if (n.type.dtype === 'bool' || x.type.dtype === 'bool') return [undefined];
  const to = cotangentDtype(x);
  return [() => (g.type.dtype === to ? g : node('cast', [g], { to }))];
};

/** Per-operand partials of a binary op, before summing over the broadcast axes. */
type Partials = (a: Node, b: Node, y: Node, g: Node) => [Cotangent, Cotangent];

const BINARY: Partial<Record<Op, Partials>> = {
  add: (_a, _b, _y, g) => [() => g, () => g],
  sub: (_a, _b, _y, g) => [() => g, () => neg(g)],
  mul: (a, b, _y, g) => [() => mul(g, b), () => mul(g, a)],
  div: (_a, b, y, g) => [() => div(g, b), () => neg(div(mul(g, y), b))],
  // ties send the whole cotangent to a (max: a ≥ b; min: a ≤ b)
  max: (a, b, _y, g) => [() => mul(g, sub(scalar(1, g.type.dtype), step(sub(b, a)))), () => mul(g, step(sub(b, a)))],
  min: (a, b, _y, g) => [() => mul(g, sub(scalar(1, g.type.dtype), step(sub(a, b)))), () => mul(g, step(sub(a, b)))],
  // d/db a^b = a^b · ln a: defined for a > 0 only, as in torch
  pow: (a, b, y, g) => [
    () => mul(g, mul(b, node('pow', [a, sub(b, scalar(1, b.type.dtype))]))),
    () => mul(g, mul(y, unary('log', a))),
  ],
};

function binaryVjp(p: Partials): Vjp {
  return (n, g) => {
    const [a, b] = [n.src[0]!, n.src[1]!];
    const [da, db] = p(a, b, n, g);
    return [() => sumTo(da(), a.type.shape), () => sumTo(db(), b.type.shape)];
  };
}

// where(c, a, b): the cotangent goes to the branch that was selected
const where: Vjp = (n, g) => {
  const [c, a, b] = [n.src[0]!, n.src[1]!, n.src[2]!];
  const zero = scalar(0, g.type.dtype);
  return [
    undefined,
    () => sumTo(node('where', [c, g, zero]), a.type.shape),
    () => sumTo(node('where', [c, zero, g]), b.type.shape),
  ];
};

export const ELEMENTWISE_VJPS: Partial<Record<Op, Vjp>> = {
  neg: (_n, g) => [() => neg(g)],
  ...Object.fromEntries(Object.entries(UNARY).map(([op, d]) => [op, unaryVjp(d)])),
  ...Object.fromEntries(Object.entries(BINARY).map(([op, p]) => [op, binaryVjp(p)])),
  cast,
  where,
};
