import { isFloat, type DType } from '../ir/dtype.ts';
import type { Node } from '../ir/node.ts';
import { formatType, numel, strides, type Shape, type TensorType } from '../ir/types.ts';
import { roundArrayBf16, roundArrayF16, roundBf16, roundF16 } from '../compiler/weights/f16.ts';
import { packNibbles, unpackNibbles } from './reference-pack.ts';
import { tensor, type Tensor } from './tensor.ts';

/**
 * The interpreter's value representation. Floats live in Float32Array (storing rounds to f32), or Float64Array in
 * f64 mode; f16/bf16 values are additionally rounded to their precision after each op unless in f64 mode.
 * Packed i4/u4 are held unpacked, one Int32Array element per value, and packed again at the graph boundary.
 */
export type Buf = Float32Array | Float64Array | Int32Array | Uint32Array | Int8Array | Uint8Array;

export interface Val {
  readonly type: TensorType;
  readonly data: Buf;
}

export interface Ctx {
  readonly f64: boolean;
}

export function alloc(type: TensorType, ctx: Ctx): Val {
  const n = numel(type.shape);
  return { type, data: allocBuf(type.dtype, n, ctx) };
}

export function allocBuf(dtype: DType, n: number, ctx: Ctx): Buf {
  switch (dtype) {
    case 'f32': case 'f16': case 'bf16': return ctx.f64 ? new Float64Array(n) : new Float32Array(n);
    case 'i32': case 'i4': case 'u4': return new Int32Array(n);
    case 'u32': return new Uint32Array(n);
    case 'i8': return new Int8Array(n);
    case 'u8': case 'bool': return new Uint8Array(n);
  }
}

/**
 * The value a dtype's storage keeps of x: what writing x into a tensor of that dtype and reading it back gives.
 * Integer stores truncate toward zero and wrap (typed-array semantics); bool is x ≠ 0.
 */
export function storeFn(dtype: DType, f64: boolean): (x: number) => number {
  switch (dtype) {
    case 'f32': return f64 ? (x) => x : Math.fround;
    case 'f16': return f64 ? (x) => x : roundF16;
    case 'bf16': return f64 ? (x) => x : roundBf16;
    case 'i32': return (x) => x | 0;
    case 'u32': return (x) => x >>> 0;
    case 'i8': return (x) => (x << 24) >> 24;
    case 'u8': return (x) => x & 0xff;
    case 'i4': return (x) => (x << 28) >> 28;
    case 'u4': return (x) => x & 0xf;
    case 'bool': return (x) => (x !== 0 && x === x ? 1 : 0);
  }
}

/** Applies the storage semantics the typed array alone does not: f16/bf16 precision, nibble wrap, bool 0/1. */
export function finish(v: Val, ctx: Ctx): Val {
  const d = v.type.dtype;
  const a = v.data;
  if (!ctx.f64 && d === 'f16') roundArrayF16(a as Float32Array);
  else if (!ctx.f64 && d === 'bf16') roundArrayBf16(a as Float32Array);
  else if (d === 'i4' || d === 'u4' || d === 'bool') {
    const st = storeFn(d, ctx.f64);
    for (let i = 0; i < a.length; i++) a[i] = st(a[i]!);
  }
  return v;
}

type BufClass = typeof Float32Array | typeof Int32Array | typeof Uint32Array | typeof Int8Array | typeof Uint8Array;
const STORAGE: Record<DType, BufClass> = {
  f32: Float32Array, f16: Float32Array, bf16: Float32Array, i32: Int32Array, u32: Uint32Array,
  i4: Uint32Array, u4: Uint32Array, i8: Int8Array, u8: Uint8Array, bool: Uint8Array,
};

/** Checks a host tensor against the node that receives it and converts it to the internal form. */
export function fromTensor(t: Tensor, want: Node, what: string, ctx: Ctx): Val {
  const wt = want.type;
  const floats = isFloat(t.type.dtype) && isFloat(wt.dtype);
  const shapeOk = t.type.shape.length === wt.shape.length && t.type.shape.every((d, i) => d === wt.shape[i]);
  // a param may come in another float dtype (bf16 checkpoint, f32 graph): it is rounded to the graph's dtype
  const dtypeOk = t.type.dtype === wt.dtype || (floats && want.op === 'param');
  if (!shapeOk || !dtypeOk) {
    throw new Error(`runReference: ${what} has type ${formatType(t.type)}, the graph expects ${formatType(wt)}`);
  }
  const cls = STORAGE[t.type.dtype];
  if (!(t.data instanceof cls)) {
    const got = t.data.constructor.name;
    throw new Error(`runReference: ${what} (${formatType(t.type)}) must hold a ${cls.name}, got ${got}`);
  }
  if (wt.dtype === 'i4' || wt.dtype === 'u4') {
    return { type: wt, data: unpackNibbles(t.data as Uint32Array, wt.shape, wt.dtype === 'i4') };
  }
  if (t.data.length !== numel(wt.shape)) {
    const need = numel(wt.shape);
    throw new Error(`runReference: ${what} holds ${t.data.length} elements, ${formatType(wt)} needs ${need}`);
  }
  if (!isFloat(wt.dtype)) return { type: wt, data: t.data };
  if (ctx.f64) return { type: wt, data: Float64Array.from(t.data) };
  if (wt.dtype === 'f32') return { type: wt, data: t.data };
  return finish({ type: wt, data: Float32Array.from(t.data) }, ctx);
}

export function toTensor(v: Val): Tensor {
  const d = v.type.dtype;
  if (d === 'i4' || d === 'u4') return tensor(v.type, packNibbles(v.data, v.type.shape));
  if (v.data instanceof Float64Array) return tensor(v.type, Float32Array.from(v.data));
  return tensor(v.type, v.data);
}

/**
 * For each linear index of `outShape`, the linear index of the element of a tensor with `inShape` that numpy
 * broadcasting reads; undefined when the shapes are equal (identity).
 */
export function broadcastIndex(inShape: Shape, outShape: Shape): Int32Array | undefined {
  if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return undefined;
  const st = strides(inShape);
  const pad = outShape.length - inShape.length;
  const bst = outShape.map((d, i) => (i < pad || inShape[i - pad] === 1 ? 0 : st[i - pad]!));
  return stridedIndex(outShape, bst);
}

/** Offsets Σ idx_k · st_k for every multi-index of shape, in row-major order (an odometer, no divisions). */
export function stridedIndex(shape: Shape, st: readonly number[]): Int32Array {
  const n = numel(shape);
  const out = new Int32Array(n);
  const r = shape.length;
  if (r === 0) return out.fill(0);
  const [last, sl] = [shape[r - 1]!, st[r - 1]!];
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let i = 0; i < n; i += last) {
    for (let j = 0; j < last; j++) out[i + j] = off + j * sl;
    for (let k = r - 2; k >= 0; k--) {
      idx[k]!++;
      off += st[k]!;
      if (idx[k]! < shape[k]!) break;
      off -= st[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

export function prod(s: Shape, from = 0, to = s.length): number {
  let p = 1;
  for (let i = from; i < to; i++) p *= s[i]!;
  return p;
}
