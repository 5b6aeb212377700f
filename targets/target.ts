import type { Op } from '../ir/ops.ts';

/**
 * What a WebGPU device can do, as the kernel selector sees it. Filled by runtime/device.ts from the adapter and
 * device; kernels choose their variant (subgroup matrix → DP4A → tiled f32) from this record alone, so tests can
 * hand-build one without a GPU.
 */
export interface DeviceCaps {
  /** device features that were granted, e.g. 'shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix' */
  readonly features: ReadonlySet<string>;
  /** WGSL language features, e.g. 'packed_4x8_integer_dot_product', 'subgroup_id' */
  readonly wgslFeatures: ReadonlySet<string>;
  readonly limits: DeviceLimits;
  /** cooperative-matrix shapes; a kernel's tile must match one exactly */
  readonly subgroupMatrixConfigs: readonly SubgroupMatrixConfig[];
  /** 0 when unknown (no `subgroups` feature) */
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  readonly hasF16: boolean;
  /** lavapipe / SwiftShader: correct but slow, never benchmark on it */
  readonly isFallback: boolean;
  readonly adapter: AdapterSummary;
}

export interface DeviceLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}

/** One `adapter.info.subgroupMatrixConfigs` entry; component types are WebGPU strings such as 'f16', 'i8', 'u32'. */
export interface SubgroupMatrixConfig {
  readonly componentType: string;
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
}

/** Everything a per-op lowering may look at: the storage element type of float tensors and the device's caps. */
export interface LowerContext {
  readonly elem: 'f32' | 'f16';
  readonly caps: DeviceCaps;
  /** forces a kernel variant per op (e.g. `{ linear: 'tiled' }`) for tests and comparisons; unset: chosen by caps */
  readonly variant?: Readonly<Partial<Record<Op, string>>>;
}

/** Caps of a plain WebGPU device with the spec's default limits and no optional features (tests, CPU-only tools). */
export const DEFAULT_CAPS: DeviceCaps = Object.freeze({
  features: new Set<string>(),
  wgslFeatures: new Set<string>(),
  limits: Object.freeze({
    maxStorageBufferBindingSize: 134217728,
    maxBufferSize: 268435456,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupsPerDimension: 65535,
  }),
  subgroupMatrixConfigs: [],
  subgroupMinSize: 0,
  subgroupMaxSize: 0,
  hasF16: false,
  isFallback: false,
  adapter: Object.freeze({ vendor: '', architecture: '', device: '', description: '' }),
});

/**
 * How a tensor of an IR dtype lives in a WebGPU buffer (the runtime ↔ kernel layout contract): float dtypes
 * (f32, f16, bf16) as `elem`; i32 as i32, one per element; bool, u8 and u32 as u32, one per element (bool is 0
 * or 1); i8 packed 4 per u32 word (byte k % 4 of the row's word k / 4, lowest byte = lowest k, so DP4A and
 * subgroup-matrix i8 loads read it directly) and i4/u4 packed 8 per word (ir/dtype.ts); packed rows are padded
 * to whole words with zeros. Buffers are padded to 4 bytes.
 */
export type StorageElem = 'f32' | 'f16' | 'i32' | 'u32';

export function storageElem(dtype: string, elem: 'f32' | 'f16'): StorageElem {
  switch (dtype) {
    case 'f32': case 'f16': case 'bf16': return elem;
    case 'i32': return 'i32';
    default: return 'u32';
  }
}

/** Elements per 32-bit storage word of the packed layouts (i8: 4, i4/u4: 8); 1 for one-element-per-slot dtypes. */
export function storagePacking(dtype: string): number {
  return dtype === 'i8' ? 4 : dtype === 'i4' || dtype === 'u4' ? 8 : 1;
}

/** Words per innermost row of a packed tensor in storage. */
export function packedRowWords(dtype: string, inner: number): number {
  return Math.ceil(inner / storagePacking(dtype));
}
