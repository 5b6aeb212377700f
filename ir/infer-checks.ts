import { isFloat, type DType } from './dtype.ts';
import { IRError } from './errors.ts';
import type { Attrs } from './ops.ts';
import { broadcastShapes, formatType, normAxis, type TensorType } from './types.ts';

// Operand and attribute checks shared by the rule tables of ir/infer.ts and ir/infer-quant.ts, so that every op
// words the same mistake the same way (tests match these messages).

/** One op's type rule: the result type of its operands, or an IRError. */
export type Rule = (src: readonly TensorType[], attrs: Attrs) => TensorType;

export function fail(op: string, msg: string, src: readonly TensorType[]): never {
  throw new IRError(`${op}: ${msg} (operands: ${src.map(formatType).join(', ') || 'none'})`);
}

export function arity(op: string, src: readonly TensorType[], min: number, max = min): void {
  if (src.length < min || src.length > max) {
    fail(op, `expects ${min === max ? min : `${min}..${max}`} operands, got ${src.length}`, src);
  }
}

export function num(op: string, attrs: Attrs, name: string, fallback?: number): number {
  const v = attrs[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new IRError(`${op}: attribute ${name} must be a number`);
  return v;
}

export function ints(op: string, attrs: Attrs, name: string): number[] {
  const v = attrs[name];
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) {
    throw new IRError(`${op}: attribute ${name} must be a list of integers`);
  }
  return v as number[];
}

export function axisOf(op: string, axis: number, rank: number, src: readonly TensorType[]): number {
  const a = normAxis(axis, rank);
  if (a === undefined) fail(op, `axis ${axis} out of range for rank ${rank}`, src);
  return a;
}

export function floatOperand(op: string, src: readonly TensorType[], i = 0): TensorType {
  const t = src[i]!;
  if (!isFloat(t.dtype)) fail(op, `operand ${i} must be a float tensor`, src);
  return t;
}

export function broadcast(op: string, src: readonly TensorType[]): number[] {
  const s = broadcastShapes(...src.map((t) => t.shape));
  if (!s) fail(op, 'shapes do not broadcast', src);
  return s;
}

export function sameDtype(op: string, src: readonly TensorType[]): DType {
  const d = src[0]!.dtype;
  if (src.some((t) => t.dtype !== d)) fail(op, 'operands must share one dtype', src);
  return d;
}

/** Throws unless t (a scale or an extra operand) broadcasts to exactly shape. */
export function broadcastTo(op: string, t: TensorType, shape: readonly number[], src: readonly TensorType[]): void {
  const s = broadcastShapes(t.shape, shape);
  if (!s || s.join() !== shape.join()) {
    fail(op, `scale [${t.shape.join(',')}] does not broadcast to [${shape.join(',')}]`, src);
  }
}

/** Checks eps and the [D] affine params of a row norm over x[..., D]; the result keeps x's type. */
export function normRow(op: string, src: readonly TensorType[], attrs: Attrs): TensorType {
  num(op, attrs, 'eps');
  const x = floatOperand(op, src);
  const d = x.shape[x.shape.length - 1];
  for (const p of src.slice(1)) if (p.shape.length !== 1 || p.shape[0] !== d) fail(op, `affine params must be [${d}]`, src);
  return x;
}

/** Checks adaLN conditioning: x[B, N, D] with each further operand [B, D], all of one dtype. */
export function adaln(op: string, src: readonly TensorType[]): void {
  const x = src[0]!;
  if (x.shape.length !== 3) fail(op, 'expects x[B, N, D]', src);
  const [b, , d] = x.shape as [number, number, number];
  for (const p of src.slice(1)) {
    if (p.shape.length !== 2 || p.shape[0] !== b || p.shape[1] !== d) fail(op, `conditioning must be [${b}, ${d}]`, src);
  }
  sameDtype(op, src);
}
