import type { DType } from '../../ir/dtype.ts';
import { numel, strides as rowMajor, type Shape } from '../../ir/types.ts';
import { broadcastStrides, collapseView } from '../wgsl/tensor-var.ts';
import { cudaStorageOf, cudaValueOf, type CudaValue } from './render.ts';
import { stridedOffsetLines } from '../c-style.ts';

/**
 * A tensor bound to a CUDA kernel: a pointer parameter, its value type and its index math (static shapes, so
 * strides are literals). The CUDA counterpart of targets/wgsl/tensor-var.ts, sharing its broadcast/view logic.
 */
export interface CudaTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly storage: string;
  readonly value: CudaValue;
  readonly shape: Shape;
  readonly numel: number;
  /** the kernel parameter, e.g. `const float* __restrict__ x0` */
  param(output: boolean): string;
  load(offset: string): string;
  store(offset: string, value: string): string;
  /** the offset read for linear index `o` of `outShape` under numpy broadcasting */
  broadcastOffset(outShape: Shape, o: string): string;
  /** linear index `o` of `shape` mapped through `strides` plus `base` */
  viewOffset(tag: string, shape: Shape, strides: readonly number[], o: string, base?: number): string;
  helpers(): string[];
}

function viewFn(fn: string, shape: Shape, strides: readonly number[], base: number): string {
  return [
    `static __device__ __forceinline__ unsigned ${fn}(unsigned o) {`, '  unsigned r = o;', `  unsigned off = ${base}u;`,
    ...stridedOffsetLines(shape, strides), '  return off;', '}',
  ].join('\n');
}

/** A plain (unpacked) tensor; `raw` gives a pointer of another C type (packed i8/i4 words) with no conversions. */
export function cudaTensor(name: string, dtype: DType, shape: Shape, elem: 'f32' | 'f16', raw?: string): CudaTensor {
  const storage = raw ?? cudaStorageOf(dtype, elem);
  const value: CudaValue = raw ? 'unsigned' : cudaValueOf(dtype);
  const used = new Map<string, string>();
  const use = (tag: string, text: string): string => {
    const fn = `${name}_${tag}`;
    const prev = used.get(fn);
    if (prev !== undefined && prev !== text) throw new Error(`cuda: helper ${fn} registered with two bodies`);
    used.set(fn, text);
    return fn;
  };
  const v: CudaTensor = {
    name, dtype, storage, value, shape,
    numel: numel(shape),
    param: (output) => `${output ? '' : 'const '}${storage}* __restrict__ ${name}`,
    load: (offset) => (value === 'bool' ? `(${name}[${offset}] != 0u)` : `${name}[${offset}]`),
    store: (offset, code) => `${name}[${offset}] = ${code};`,
    broadcastOffset: (outShape, o) => v.viewOffset('bcast', outShape, broadcastStrides(shape, outShape), o),
    viewOffset: (tag, vshape, vstrides, o, base = 0) => {
      const c = collapseView(vshape, vstrides);
      if (base === 0 && c.shape.length <= 1 && (c.strides[0] ?? 1) === 1) return o;
      return `${use(tag, viewFn(`${name}_${tag}`, c.shape, c.strides, base))}(${o})`;
    },
    helpers: () => [...used.values()],
  };
  return v;
}

export { rowMajor };
