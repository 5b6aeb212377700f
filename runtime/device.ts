import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { create, globals } from 'webgpu';
import type { AdapterSummary, DeviceCaps, DeviceLimits, SubgroupMatrixConfig } from '../targets/target.ts';

/** The record behind `vdit devices`: what the adapter is and what the device was granted. */
export interface DeviceInfo {
  readonly adapter: AdapterSummary;
  readonly isFallbackAdapter: boolean;
  readonly features: readonly string[];
  readonly wgslLanguageFeatures: readonly string[];
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  readonly subgroupMatrixConfigs: readonly SubgroupMatrixConfig[];
  readonly limits: Readonly<Record<string, number>>;
  readonly flags: readonly string[];
  readonly versions: { readonly node: string; readonly webgpu: string };
}

/** An open Dawn device plus what we know about it. `error` holds a device-lost or uncaptured error. */
export interface GpuContext {
  readonly gpu: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly caps: DeviceCaps;
  readonly info: DeviceInfo;
  error: Error | undefined;
  closed: boolean;
}

export interface OpenDeviceOptions {
  /** extra Dawn flags, e.g. ['validate=1'] or ['enable-dawn-features=disable_robustness'] */
  readonly flags?: readonly string[];
  /** substring of the adapter name (Dawn's `adapter=` flag), e.g. 'llvmpipe' */
  readonly adapter?: string;
  /** default true: lavapipe/SwiftShader are fine for correctness; benchmarks must check caps.isFallback */
  readonly allowFallback?: boolean;
}

const BASE_FLAGS = [
  'backend=vulkan',
  'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia',
  'disable-dawn-features=timestamp_quantization',
];
const WANTED_FEATURES = [
  'shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix', 'subgroup-size-control',
];
const REQUIRED_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage',
] as const;
const REPORTED_LIMITS = [...REQUIRED_LIMITS, 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension', 'maxUniformBufferBindingSize', 'maxBindGroups'] as const;
const NO_ADAPTER = 'no WebGPU adapter: install a Vulkan driver (bash .ci/install-vulkan.sh) or run with --backend cpu';

// Dawn crashes (segfault/abort/hang) once the object from create() is garbage-collected: pin every one for the
// life of the process, one per distinct flag set (dawn-gpu/node-webgpu#18).
const PINNED_KEY = Symbol.for('vdit.dawnInstances');
function dawnInstance(flags: readonly string[]): GPU {
  const g = globalThis as unknown as Record<symbol, Map<string, GPU> | undefined>;
  const pinned = (g[PINNED_KEY] ??= new Map<string, GPU>());
  const key = flags.join('\n');
  let gpu = pinned.get(key);
  if (!gpu) {
    Object.assign(globalThis, globals);
    gpu = create([...flags]);
    pinned.set(key, gpu);
  }
  return gpu;
}

export async function openDevice(opts: OpenDeviceOptions = {}): Promise<GpuContext> {
  const flags = [...BASE_FLAGS, ...(opts.adapter ? [`adapter=${opts.adapter}`] : []), ...(opts.flags ?? [])];
  const gpu = dawnInstance(flags);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER);
  const fallback = isFallback(adapter);
  if (fallback && opts.allowFallback === false) {
    throw new Error(`only a fallback (software) WebGPU adapter is available: ${adapter.info.description}`);
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const k of REQUIRED_LIMITS) requiredLimits[k] = (adapter.limits as unknown as Record<string, number>)[k]!;
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = collectInfo(gpu, adapter, device, flags, fallback);
  const ctx: GpuContext = { gpu, adapter, device, caps: capsOf(info), info, error: undefined, closed: false };
  watchDevice(ctx);
  return ctx;
}

function watchDevice(ctx: GpuContext): void {
  void ctx.device.lost.then((lost) => {
    if (!ctx.closed) ctx.error ??= new Error(`WebGPU device lost (${lost.reason}): ${lost.message}`);
  });
  ctx.device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    ctx.error ??= new Error(`WebGPU ${e.constructor.name}: ${e.message}`);
  });
}

/** Throws a pending device-lost or uncaptured error (once for uncaptured ones; device loss is permanent). */
export function checkDevice(ctx: GpuContext): void {
  if (ctx.closed) throw new Error('WebGPU device is closed');
  const e = ctx.error;
  if (!e) return;
  if (!e.message.startsWith('WebGPU device lost')) ctx.error = undefined;
  throw e;
}

export function closeDevice(ctx: GpuContext): void {
  if (ctx.closed) return;
  ctx.closed = true;
  ctx.device.destroy();
}

export function describeDevice(ctx: GpuContext): DeviceInfo {
  return ctx.info;
}

function isFallback(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return Boolean(info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
}

function collectInfo(gpu: GPU, a: GPUAdapter, d: GPUDevice, flags: string[], fallback: boolean): DeviceInfo {
  // WebIDL objects: JSON.stringify prints {}, so every field is read by name
  const ai = a.info as GPUAdapterInfo & { subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> };
  const limits: Record<string, number> = {};
  for (const k of REPORTED_LIMITS) limits[k] = (d.limits as unknown as Record<string, number>)[k]!;
  const configs = [...(ai.subgroupMatrixConfigs ?? [])].map((c) => ({
    componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K,
  }));
  return {
    adapter: { vendor: ai.vendor, architecture: ai.architecture, device: ai.device, description: ai.description },
    isFallbackAdapter: fallback,
    features: [...d.features].sort(),
    wgslLanguageFeatures: [...gpu.wgslLanguageFeatures].sort(),
    subgroupMinSize: ai.subgroupMinSize ?? 0,
    subgroupMaxSize: ai.subgroupMaxSize ?? 0,
    subgroupMatrixConfigs: configs,
    limits,
    flags,
    versions: { node: process.versions.node, webgpu: webgpuVersion() },
  };
}

function capsOf(info: DeviceInfo): DeviceCaps {
  const features = new Set(info.features);
  const limits: DeviceLimits = {
    maxStorageBufferBindingSize: info.limits['maxStorageBufferBindingSize']!,
    maxBufferSize: info.limits['maxBufferSize']!,
    maxComputeWorkgroupStorageSize: info.limits['maxComputeWorkgroupStorageSize']!,
    maxComputeInvocationsPerWorkgroup: info.limits['maxComputeInvocationsPerWorkgroup']!,
    maxComputeWorkgroupsPerDimension: info.limits['maxComputeWorkgroupsPerDimension']!,
  };
  return {
    features, wgslFeatures: new Set(info.wgslLanguageFeatures), limits,
    subgroupMatrixConfigs: info.subgroupMatrixConfigs,
    subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize,
    hasF16: features.has('shader-f16'), isFallback: info.isFallbackAdapter,
    adapter: info.adapter,
  };
}

function webgpuVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const dir = require.resolve('webgpu').replace(/index\.js$/, '');
    return (JSON.parse(readFileSync(`${dir}package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** `vdit devices` text form: one `key  value` line each, long lists wrapped. */
export function formatDeviceInfo(info: DeviceInfo): string {
  const rows: [string, string][] = [
    ['adapter', `${info.adapter.vendor} / ${info.adapter.architecture} / ${info.adapter.device}`],
    ['description', info.adapter.description],
    ['fallback', String(info.isFallbackAdapter)],
    ['features', info.features.join(', ')],
    ['wgsl features', info.wgslLanguageFeatures.join(', ')],
    ['subgroup size', `${info.subgroupMinSize}..${info.subgroupMaxSize}`],
    ['subgroup matrix', info.subgroupMatrixConfigs.map(formatConfig).join(', ') || 'none'],
    ...Object.entries(info.limits).map(([k, v]): [string, string] => [k, String(v)]),
    ['flags', info.flags.join(' ')],
    ['versions', `node ${info.versions.node}, webgpu ${info.versions.webgpu}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${wrap(v, 118 - w).join(`\n${' '.repeat(w + 2)}`)}`).join('\n');
}

// breaks a comma-separated list after a comma so no line runs past `width`
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const part of text.split(/(?<=, )/)) {
    if (cur && (cur + part).trimEnd().length > width) {
      lines.push(cur.trimEnd());
      cur = '';
    }
    cur += part;
  }
  return [...lines, cur.trimEnd()];
}

function formatConfig(c: SubgroupMatrixConfig): string {
  return `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`;
}
