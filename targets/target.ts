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
 * (f32, f16, bf16) as `elem`; i32 and i8 as i32, one per element; bool, u8 and u32 as u32, one per element
 * (bool is 0 or 1); packed i4/u4 as u32 words, 8 nibbles each (ir/dtype.ts). Buffers are padded to 4 bytes.
 */
export type StorageElem = 'f32' | 'f16' | 'i32' | 'u32';

export function storageElem(dtype: string, elem: 'f32' | 'f16'): StorageElem {
  switch (dtype) {
    case 'f32': case 'f16': case 'bf16': return elem;
    case 'i32': case 'i8': return 'i32';
    default: return 'u32';
  }
}
