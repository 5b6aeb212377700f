import type { DType } from '../../ir/dtype.ts';
import { numel, strides as rowMajor, type Shape } from '../../ir/types.ts';
import { fromStorage, storageOf, toStorage, valueOf, type Elem, type StorageType, type ValueType } from './render.ts';
import { stridedOffsetLines } from '../c-style.ts';

/**
 * A tensor bound to a kernel (ONNX Runtime IndicesHelper style): it owns the storage type, the conversions to and
 * from the in-shader value type, and all index math. Index helpers are WGSL functions named `<name>_<tag>`; only
 * those a kernel asked for are emitted. Shapes are static, so strides are baked in as literals.
 */
export interface TensorVar {
  readonly name: string;
  readonly dtype: DType;
  readonly storage: StorageType;
  readonly value: ValueType;
  readonly shape: Shape;
  readonly numel: number;
  declare(binding: number, access: 'read' | 'read_write'): string;
  /** the element at a storage offset, as a value (f16 → f32, u32 → bool) */
  load(offset: string): string;
  /** a statement storing a value at a storage offset */
  store(offset: string, value: string): string;
  /** the offset read for linear index `o` of `outShape` under numpy broadcasting */
  broadcastOffset(outShape: Shape, o: string): string;
  /** linear index `o` of `shape`, mapped through `strides` (elements) plus `base`: permutes, slices, reductions */
  viewOffset(tag: string, shape: Shape, strides: readonly number[], o: string, base?: number): string;
  /** `array<u32, rank>` of indices for a row-major offset */
  offsetToIndices(o: string): string;
  indicesToOffset(indices: string): string;
  /** WGSL of the helpers used so far */
  helpers(): string[];
}

/** Strides of `shape` as seen from `outShape` under numpy broadcasting: 0 on broadcast dims, aligned right. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const s = rowMajor(shape);
  const pad = outShape.length - shape.length;
  const fail = (): never => {
    throw new Error(`wgsl: shape [${shape.join(',')}] does not broadcast to [${outShape.join(',')}]`);
  };
  if (pad < 0) fail();
  return outShape.map((d, i) => {
    const own = i < pad ? 1 : shape[i - pad]!;
    if (own !== 1 && own !== d) fail();
    return own === 1 ? 0 : s[i - pad]!;
  });
}

/** Drops size-1 dims and merges dims that stay contiguous under the view: fewer divisions in the helpers. */
export function collapseView(shape: Shape, strides: readonly number[]): { shape: number[]; strides: number[] } {
  const outS: number[] = [];
  const outT: number[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const st = strides[i]!;
    const last = outS.length - 1;
    if (last >= 0 && outT[last] === st * d) {
      outS[last] = outS[last]! * d;
      outT[last] = st;
    } else {
      outS.push(d);
      outT.push(st);
    }
  });
  return { shape: outS, strides: outT };
}

function viewFn(fn: string, shape: Shape, strides: readonly number[], base: number): string {
  return [
    `fn ${fn}(o: u32) -> u32 {`, '  var r = o;', `  var off = ${base}u;`,
    ...stridedOffsetLines(shape, strides), '  return off;', '}',
  ].join('\n');
}

export function tensorVar(name: string, dtype: DType, shape: Shape, elem: Elem): TensorVar {
  const storage = storageOf(dtype, elem);
  const value = valueOf(dtype);
  const rank = shape.length;
  const st = rowMajor(shape);
  const used = new Map<string, string>();
  const use = (tag: string, src: () => string): string => {
    const fn = `${name}_${tag}`;
    const text = src();
    const prev = used.get(fn);
    if (prev !== undefined && prev !== text) throw new Error(`wgsl: helper ${fn} registered with two bodies`);
    used.set(fn, text);
    return fn;
  };
  const needRank = (what: string): void => {
    if (rank === 0) throw new Error(`wgsl: ${what} of the scalar ${name}`);
  };
  const v: TensorVar = {
    name,
    dtype,
    storage,
    value,
    shape,
    numel: numel(shape),
    declare: (binding, access) => `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${storage}>;`,
    load: (offset) => fromStorage(storage, value, `${name}[${offset}]`),
    store: (offset, code) => `${name}[${offset}] = ${toStorage(storage, value, code)};`,
    broadcastOffset: (outShape, o) => v.viewOffset('bcast', outShape, broadcastStrides(shape, outShape), o),
    viewOffset: (tag, vshape, vstrides, o, base = 0) => {
      const c = collapseView(vshape, vstrides);
      if (base === 0 && c.shape.length <= 1 && (c.strides[0] ?? 1) === 1) return o;
      return `${use(tag, () => viewFn(`${name}_${tag}`, c.shape, c.strides, base))}(${o})`;
    },
    offsetToIndices: (o) => {
      needRank('offsetToIndices');
      const body = shape.map((_, i) => `(o / ${st[i]}u) % ${shape[i]}u`).join(', ');
      const fn = `fn ${name}_o2i(o: u32) -> array<u32, ${rank}> {\n  return array<u32, ${rank}>(${body});\n}`;
      return `${use('o2i', () => fn)}(${o})`;
    },
    indicesToOffset: (idx) => {
      needRank('indicesToOffset');
      const body = shape.map((_, i) => `i[${i}] * ${st[i]}u`).join(' + ');
      return `${use('i2o', () => `fn ${name}_i2o(i: array<u32, ${rank}>) -> u32 {\n  return ${body};\n}`)}(${idx})`;
    },
    helpers: () => [...used.values()],
  };
  return v;
}
