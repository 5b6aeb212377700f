import { DTYPES, intRange, isDType, type DType } from '../ir/dtype.ts';
import type { Node } from '../ir/node.ts';
import type { Attrs, BinaryOp, Op } from '../ir/ops.ts';
import { roundBf16, roundF16 } from '../compiler/weights/f16.ts';
import { alloc, broadcastIndex, type Ctx, type Val } from './reference-values.ts';

/**
 * Scalar semantics of the elementwise ops, computed in f64; the caller's storage (see storeFn) rounds the result
 * to the dtype. These helpers are shared with constant folding.
 */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** erf to ~1e-15: Maclaurin series below 2.5, continued fraction for erfc up to 6, ±1 beyond (erfc(6) < 2.2e-17). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax !== ax) return NaN;
  if (ax < 2.5) {
    // erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (ax >= 6) return Math.sign(x);
  // erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated backwards
  let t = ax;
  for (let k = 120; k >= 1; k--) t = ax + k / 2 / t;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / t;
  return Math.sign(x) * (1 - erfc);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** float → int rounds half to even and saturates (NaN → 0); int → int saturates; anything → bool is x ≠ 0. */
export function castValue(x: number, to: DType): number {
  if (to === 'f32') return Math.fround(x);
  if (to === 'f16') return roundF16(x);
  if (to === 'bf16') return roundBf16(x);
  if (to === 'bool') return x !== 0 && x === x ? 1 : 0;
  if (x !== x) return 0;
  const [lo, hi] = intRange(to);
  const r = x - Math.floor(x) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
  return Math.min(hi, Math.max(lo, r));
}

export type UnaryFn = (x: number) => number;
export type BinaryFn = (a: number, b: number) => number;

const UNARY: Readonly<Record<string, UnaryFn>> = {
  neg: (x) => -x,
  abs: Math.abs,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  recip: (x) => 1 / x,
  square: (x) => x * x,
  tanh: Math.tanh,
  sigmoid,
  relu: (x) => (x > 0 ? x : x === x ? 0 : x),
  silu: (x) => x * sigmoid(x),
  sin: Math.sin,
  cos: Math.cos,
};

const GELU_ERF: UnaryFn = (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
const GELU_TANH: UnaryFn = (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));

export function unaryFn(op: Op, attrs: Attrs = {}): UnaryFn {
  if (op === 'gelu') {
    const approx = attrs['approx'] ?? 'none';
    if (approx === 'none') return GELU_ERF;
    if (approx === 'tanh') return GELU_TANH;
    throw new Error(`gelu: approx must be 'none' or 'tanh', got ${JSON.stringify(approx)}`);
  }
  if (op === 'cast') {
    const to = attrs['to'];
    if (typeof to !== 'string' || !isDType(to)) throw new Error(`cast: attribute to must be a dtype, got ${to}`);
    return (x) => castValue(x, to);
  }
  const f = UNARY[op];
  if (!f) throw new Error(`'${op}' is not a unary op`);
  return f;
}

const BINARY_FLOAT: Readonly<Record<BinaryOp, BinaryFn>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  max: (a, b) => (a !== a || b !== b ? NaN : Math.max(a, b)),
  min: (a, b) => (a !== a || b !== b ? NaN : Math.min(a, b)),
  pow: Math.pow,
};

// integer results wrap when stored; mul must not go through a 53-bit float product, div truncates, x/0 = 0
const BINARY_INT: Readonly<Partial<Record<BinaryOp, BinaryFn>>> = {
  mul: (a, b) => Math.imul(a, b),
  div: (a, b) => (b === 0 ? 0 : Math.trunc(a / b)),
  pow: intPow,
};

function intPow(a: number, b: number): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b & 1 ? -1 : 1) : 0;
  let r = 1;
  let x = a | 0;
  for (let e = b >>> 0; e; e >>>= 1) {
    if (e & 1) r = Math.imul(r, x);
    x = Math.imul(x, x);
  }
  return r;
}

export function binaryFn(op: Op, dtype: DType = 'f32'): BinaryFn {
  const f = (DTYPES[dtype].isInt && BINARY_INT[op as BinaryOp]) || BINARY_FLOAT[op as BinaryOp];
  if (!f) throw new Error(`'${op}' is not a binary op`);
  return f;
}

/** One element of a unary op (incl. gelu{approx} and cast{to}), unrounded except for cast. */
export function evalUnary(op: Op, x: number, attrs: Attrs = {}): number {
  return unaryFn(op, attrs)(x);
}

/** One element of a binary op; for integer dtypes mul/div/pow follow integer semantics. */
export function evalBinary(op: Op, a: number, b: number, dtype: DType = 'f32'): number {
  return binaryFn(op, dtype)(a, b);
}

/** out[i] = f(src_0[…], src_1[…], …) with numpy broadcasting to the node's shape. */
export function mapElementwise(n: Node, src: readonly Val[], ctx: Ctx, f: (v: number[]) => number): Val {
  const out = alloc(n.type, ctx);
  const o = out.data;
  const idx = src.map((s) => broadcastIndex(s.type.shape, n.type.shape));
  const data = src.map((s) => s.data);
  const v = new Array<number>(src.length).fill(0);
  for (let i = 0; i < o.length; i++) {
    for (let j = 0; j < data.length; j++) {
      const ix = idx[j];
      v[j] = data[j]![ix ? ix[i]! : i]!;
    }
    o[i] = f(v);
  }
  return out;
}

export function evalUnaryNode(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const x = src[0]!.data;
  const f = unaryFn(n.op, n.attrs);
  const out = alloc(n.type, ctx);
  const o = out.data;
  for (let i = 0; i < o.length; i++) o[i] = f(x[i]!);
  return out;
}

export function evalBinaryNode(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const f = binaryFn(n.op, n.type.dtype);
  const [a, b] = [src[0]!, src[1]!];
  const ia = broadcastIndex(a.type.shape, n.type.shape);
  const ib = broadcastIndex(b.type.shape, n.type.shape);
  const out = alloc(n.type, ctx);
  const [o, ad, bd] = [out.data, a.data, b.data];
  if (!ia && !ib) for (let i = 0; i < o.length; i++) o[i] = f(ad[i]!, bd[i]!);
  else for (let i = 0; i < o.length; i++) o[i] = f(ad[ia ? ia[i]! : i]!, bd[ib ? ib[i]! : i]!);
  return out;
}

export function evalWhere(n: Node, src: readonly Val[], ctx: Ctx): Val {
  return mapElementwise(n, src, ctx, (v) => (v[0] ? v[1]! : v[2]!));
}
