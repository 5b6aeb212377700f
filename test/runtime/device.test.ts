import { mulberry32 } from '../../compiler/data/prng.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { roundF16 } from '../../compiler/weights/f16.ts';
import { tensorType } from '../../ir/types.ts';
import {
  BufferPool, STORAGE_USAGE, createBufferChecked, readTensor, sizeClass, storageBytes, uploadTensor,
} from '../../runtime/buffers.ts';
import { checkDevice, closeDevice, describeDevice, formatDeviceInfo, openDevice, type GpuContext } from '../../runtime/device.ts';
import { PipelineCache } from '../../runtime/pipeline-cache.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';

// opened at collection time so that skip reasons can name what the device lacks
const gpu: GpuContext = await openDevice();
afterAll(() => closeDevice(gpu));

const rng = (seed: number): (() => number) => mulberry32(seed >>> 0).next;

function randomF32(shape: number[], seed: number, scale = 4): Tensor {
  const r = rng(seed);
  const t = tensorType('f32', shape);
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(t, Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale));
}

async function roundTrip(t: Tensor, elem: 'f32' | 'f16'): Promise<Tensor> {
  const buf = await createBufferChecked(gpu, storageBytes(t.type, elem), STORAGE_USAGE, 'round-trip');
  try {
    uploadTensor(gpu, buf, t, elem);
    return await readTensor(gpu, buf, t.type, elem);
  } finally {
    buf.destroy();
  }
}

describe('openDevice', () => {
  it('describes adapter, features, limits and versions', () => {
    const info = describeDevice(gpu);
    expect(info.features.length).toBeGreaterThan(0);
    expect(info.limits['maxStorageBufferBindingSize']).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(info.limits['maxComputeWorkgroupsPerDimension']).toBeGreaterThanOrEqual(65535);
    // requiredLimits asked for the adapter's values, not the WebGPU defaults (16 KiB)
    expect(info.limits['maxComputeWorkgroupStorageSize']).toBe(gpu.adapter.limits.maxComputeWorkgroupStorageSize);
    expect(info.versions.webgpu).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.flags).toContain('backend=vulkan');
    expect(gpu.caps.hasF16).toBe(info.features.includes('shader-f16'));
    expect(gpu.caps.limits.maxBufferSize).toBe(info.limits['maxBufferSize']);
    const text = formatDeviceInfo(info);
    expect(text).toMatch(/maxStorageBufferBindingSize\s+\d+/);
    expect(text).toContain(info.adapter.description);
    expect(JSON.parse(JSON.stringify(info)).features).toEqual(info.features);
  });
});

describe('buffers', () => {
  it('round-trips f32 exactly', async () => {
    const t = randomF32([3, 37], 11);
    expect((await roundTrip(t, 'f32')).data).toEqual(t.data);
  });

  it('round-trips i32, bool, i8 and u8 through 32-bit words', async () => {
    const r = rng(12);
    const cases: Tensor[] = [
      tensor(tensorType('i32', [17]), Int32Array.from({ length: 17 }, () => Math.floor((r() - 0.5) * 2 ** 31))),
      tensor(tensorType('bool', [9]), Uint8Array.from({ length: 9 }, () => (r() < 0.5 ? 1 : 0))),
      tensor(tensorType('i8', [11]), Int8Array.from({ length: 11 }, () => Math.floor(r() * 256) - 128)),
      tensor(tensorType('u8', [5]), Uint8Array.from({ length: 5 }, () => Math.floor(r() * 256))),
    ];
    for (const t of cases) {
      const back = await roundTrip(t, 'f16');
      expect(back.type.dtype).toBe(t.type.dtype);
      expect(back.data).toEqual(t.data);
    }
  });

  const f16 = gpu.caps.hasF16 ? '' : ' [skipped: no shader-f16 on this device]';
  it.skipIf(!gpu.caps.hasF16)(`stores f16 and reads back widened to f32${f16}`, async () => {
    // odd element count: the f16 buffer is padded to a 4-byte multiple
    const t = randomF32([5, 7], 13);
    const back = await roundTrip(t, 'f16');
    expect(back.data).toBeInstanceOf(Float32Array);
    expect(Array.from(back.data)).toEqual(Array.from(t.data, roundF16));
    expect(Array.from(back.data)).not.toEqual(Array.from(t.data));
  });

  it('reuses released buffers of the same size class', async () => {
    const pool = new BufferPool(gpu);
    const a = await pool.acquire(1000, STORAGE_USAGE, 'a');
    pool.release(a);
    const b = await pool.acquire(900, STORAGE_USAGE, 'b');
    expect(b).toBe(a);
    const c = await pool.acquire(5000, STORAGE_USAGE, 'c');
    expect(c).not.toBe(a);
    expect(() => pool.release(a)).not.toThrow();
    expect(() => pool.release(a)).toThrow(/not from this pool/);
    pool.dispose();
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(1025)).toBe(1280);
    expect(sizeClass(2 ** 20)).toBe(2 ** 20);
  });

  it('refuses a buffer above maxBufferSize with the tensor name', async () => {
    const size = gpu.caps.limits.maxBufferSize + 4;
    await expect(createBufferChecked(gpu, size, STORAGE_USAGE, 'huge.weight')).rejects.toThrow(
      /huge\.weight needs .* MiB, above the device's maxBufferSize/,
    );
  });
});

describe('PipelineCache', () => {
  const ok = {
    name: 'copy', key: 'copy[]:64,1,1:f32', entry: 'main', dispatch: [1, 1, 1] as const, features: [],
    source: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { o[g.x] = a[g.x]; }`,
  };

  it('compiles once per key', async () => {
    const cache = new PipelineCache(gpu);
    const [p1, p2] = await Promise.all([cache.get(ok, 1), cache.get(ok, 1)]);
    expect(p1).toBe(p2);
    expect(cache.size).toBe(1);
  });

  it('reports WGSL errors with the kernel name and the offending line', async () => {
    const bad = { ...ok, name: 'broken_kernel', key: 'broken', source: ok.source.replace('a[g.x]', 'a[g.x] + nope') };
    const err = await new PipelineCache(gpu).get(bad, 1).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/kernel broken_kernel: WGSL compilation failed/);
    expect(err?.message).toContain('o[g.x] = a[g.x] + nope;');
    expect(err?.message).toMatch(/nope/);
  });
});

describe('device errors', () => {
  it('surfaces an uncaptured validation error on the next call, once', async () => {
    gpu.device.createBuffer({ size: 16, usage: 0, label: 'no-usage' });
    await gpu.device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 10));
    expect(() => checkDevice(gpu)).toThrow(/WebGPU GPUValidationError: .*usage/is);
    expect(() => checkDevice(gpu)).not.toThrow();
  });

  it('turns a lost device into an Error on the next call instead of hanging', async () => {
    const other = await openDevice();
    other.device.destroy();
    await other.device.lost;
    await expect(createBufferChecked(other, 64, STORAGE_USAGE, 'after-loss')).rejects.toThrow(/WebGPU device lost/);
    closeDevice(other);
    await expect(createBufferChecked(other, 64, STORAGE_USAGE, 'after-close')).rejects.toThrow(/device is closed/);
  });
});
