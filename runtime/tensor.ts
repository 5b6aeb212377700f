import { numel, type TensorType } from '../ir/types.ts';

/**
 * A host tensor. Float dtypes (f32, f16, bf16) are held as Float32Array; i32 as Int32Array; u32 and packed
 * i4/u4 (8 per word, see ir/dtype.ts) as Uint32Array; i8 as Int8Array; u8 and bool (0/1) as Uint8Array.
 */
export type TensorData = Float32Array | Int32Array | Uint32Array | Int8Array | Uint8Array;

export interface Tensor {
  readonly type: TensorType;
  readonly data: TensorData;
}

export function tensor(type: TensorType, data: TensorData): Tensor {
  const want = type.dtype === 'i4' || type.dtype === 'u4' ? data.length : numel(type.shape);
  if (data.length !== want) {
    throw new Error(`tensor ${type.dtype}[${type.shape.join(',')}] needs ${want} elements, got ${data.length}`);
  }
  return { type, data };
}
