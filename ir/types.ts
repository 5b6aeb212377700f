import { DTYPES, type DType } from './dtype.ts';

export type Shape = readonly number[];

/** A tensor type: element type and static shape (row-major). Scalars have shape []. */
export interface TensorType {
  readonly dtype: DType;
  readonly shape: Shape;
}

export function tensorType(dtype: DType, shape: Shape): TensorType {
  return { dtype, shape: [...shape] };
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function strides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function sameType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && sameShape(a.shape, b.shape);
}

/** Numpy-style broadcast of shapes; undefined when they are incompatible. */
export function broadcastShapes(...shapes: Shape[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) return undefined;
    }
  }
  return out;
}

/** Normalises a possibly negative axis against a rank; undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined;
}

/** Bytes a tensor of this type occupies in storage (packed types round each innermost row up to whole u32 words). */
export function byteSize(t: TensorType): number {
  const info = DTYPES[t.dtype];
  if (info.packed === 1) return numel(t.shape) * (info.bits / 8);
  const inner = t.shape.length ? t.shape[t.shape.length - 1]! : 1;
  const rows = numel(t.shape) / Math.max(inner, 1);
  return rows * Math.ceil(inner / info.packed) * 4;
}

export function formatType(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}
