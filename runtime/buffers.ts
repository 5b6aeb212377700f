import { fromF16Bits, toF16Bits } from '../compiler/weights/f16.ts';
import { numel, byteSize, formatType, type TensorType } from '../ir/types.ts';
import { packedRowWords, storageElem, storagePacking } from '../targets/target.ts';
import { checkDevice, type GpuContext } from './device.ts';
import { trackBuffer } from './memory.ts';
import { tensor, type Tensor, type TensorData } from './tensor.ts';

// GPUBufferUsage values, spelled out because the WebGPU globals exist only after openDevice() installs them
export const USAGE = {
  MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200,
} as const;
export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
export const STAGING_USAGE = USAGE.MAP_READ | USAGE.COPY_DST;

const MIB = 1024 * 1024;
const MIN_CLASS = 256;

/** Bytes of a tensor in GPU storage (see storageElem in targets/target.ts), padded to a 4-byte multiple. */
export function storageBytes(t: TensorType, elem: 'f32' | 'f16'): number {
  if (t.dtype === 'i4' || t.dtype === 'u4') return byteSize(t);
  if (t.dtype === 'i8') {
    const inner = t.shape.length ? t.shape[t.shape.length - 1]! : 1;
    return (inner ? numel(t.shape) / inner : 0) * packedRowWords('i8', inner) * 4;
  }
  const per = storageElem(t.dtype, elem) === 'f16' ? 2 : 4;
  return Math.ceil((numel(t.shape) * per) / 4) * 4;
}

/** Size classes step by quarter octaves (≤ 25% waste) so freed buffers fit later requests of similar size. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(octave / 4, MIN_CLASS);
  return Math.ceil(bytes / step) * step;
}

/** createBuffer inside error scopes, so running out of memory is an Error naming the tensor, not a lost device. */
export async function createBufferChecked(
  ctx: GpuContext, size: number, usage: number, label: string,
): Promise<GPUBuffer> {
  checkDevice(ctx);
  const max = ctx.caps.limits.maxBufferSize;
  if (size > max) {
    throw new Error(`buffer for ${label} needs ${mib(size)} MiB, above the device's maxBufferSize ${mib(max)} MiB`);
  }
  const { device } = ctx;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const buf = device.createBuffer({ size: Math.max(4, size), usage, label });
  const invalid = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (oom) throw new Error(`GPU out of memory allocating ${mib(size)} MiB for ${label}`);
  if (invalid) throw new Error(`createBuffer for ${label} (${mib(size)} MiB) failed: ${invalid.message}`);
  return trackBuffer(device, buf);
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(bytes < MIB ? 3 : 1);
}

/** Buffers reused by (usage, size class); release() returns one to the pool instead of destroying it. */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();

  constructor(private readonly ctx: GpuContext) {}

  async acquire(bytes: number, usage: number, label: string): Promise<GPUBuffer> {
    const cls = this.classOf(bytes);
    const hit = this.free.get(`${usage}:${cls}`)?.pop();
    const buf = hit ?? (await createBufferChecked(this.ctx, cls, usage, label));
    this.live.add(buf);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) throw new Error(`BufferPool.release: ${buf.label} is not from this pool`);
    const key = `${buf.usage}:${buf.size}`;
    const list = this.free.get(key) ?? [];
    list.push(buf);
    this.free.set(key, list);
  }

  get allocatedBytes(): number {
    let n = 0;
    for (const b of this.live) n += b.size;
    for (const list of this.free.values()) for (const b of list) n += b.size;
    return n;
  }

  dispose(): void {
    for (const b of this.live) b.destroy();
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.live.clear();
    this.free.clear();
  }

  private classOf(bytes: number): number {
    const cls = sizeClass(bytes);
    // near the limit the class would overshoot it: fall back to the exact (4-aligned) size
    return cls <= this.ctx.caps.limits.maxBufferSize ? cls : Math.ceil(bytes / 4) * 4;
  }
}

/** Host tensor → storage bytes: floats to `elem` (f16 rounds to nearest even), bool/u8 widened to u32, i8 packed. */
export function encodeTensor(t: Tensor, elem: 'f32' | 'f16'): ArrayBuffer {
  const out = new ArrayBuffer(storageBytes(t.type, elem));
  const kind = storageElem(t.type.dtype, elem);
  if (t.type.dtype === 'i8') packBytes(t.data, t.type.shape, new Int8Array(out));
  else if (kind === 'f16') new Uint16Array(out).set(toF16Bits(t.data));
  else if (kind === 'f32') new Float32Array(out).set(t.data);
  else if (kind === 'i32') new Int32Array(out).set(t.data);
  else new Uint32Array(out).set(t.data);
  return out;
}

/** Storage bytes → host tensor in the layout runtime/tensor.ts specifies (f16 widened to f32). */
export function decodeTensor(type: TensorType, bytes: ArrayBuffer, elem: 'f32' | 'f16'): Tensor {
  const n = type.dtype === 'i4' || type.dtype === 'u4' ? storageBytes(type, elem) / 4 : numel(type.shape);
  const kind = storageElem(type.dtype, elem);
  let data: TensorData;
  if (kind === 'f16') data = fromF16Bits(new Uint16Array(bytes, 0, n));
  else if (kind === 'f32') data = new Float32Array(bytes, 0, n).slice();
  else if (type.dtype === 'i8') data = unpackBytes(new Int8Array(bytes), type.shape);
  else if (kind === 'i32') data = new Int32Array(bytes, 0, n).slice();
  else if (type.dtype === 'u8' || type.dtype === 'bool') data = Uint8Array.from(new Uint32Array(bytes, 0, n));
  else data = new Uint32Array(bytes, 0, n).slice();
  return tensor(type, data);
}

/** i8 values → storage bytes: each innermost row starts on a word boundary (storagePacking in targets/target.ts). */
function packBytes(vals: ArrayLike<number>, shape: readonly number[], out: Int8Array): void {
  const inner = shape.length ? shape[shape.length - 1]! : 1;
  const stride = packedRowWords('i8', inner) * storagePacking('i8');
  const rows = inner ? vals.length / inner : 0;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inner; k++) out[r * stride + k] = vals[r * inner + k]!;
  }
}

function unpackBytes(bytes: Int8Array, shape: readonly number[]): Int8Array {
  const inner = shape.length ? shape[shape.length - 1]! : 1;
  const stride = packedRowWords('i8', inner) * storagePacking('i8');
  const out = new Int8Array(numel(shape));
  const rows = inner ? out.length / inner : 0;
  for (let r = 0; r < rows; r++) out.set(bytes.subarray(r * stride, r * stride + inner), r * inner);
  return out;
}

/** Storage bytes of a tensor whose every element is `value` (const nodes). */
export function fillBytes(type: TensorType, value: number | boolean, elem: 'f32' | 'f16'): ArrayBuffer {
  if (type.dtype === 'i4' || type.dtype === 'u4') {
    throw new Error(`const of packed ${formatType(type)} is not supported`);
  }
  const n = numel(type.shape);
  const v = typeof value === 'boolean' ? Number(value) : value;
  const data = type.dtype === 'i8' ? new Int8Array(n).fill(v) : type.dtype === 'i32' ? new Int32Array(n).fill(v)
    : storageElem(type.dtype, elem) === 'u32' ? new Uint32Array(n).fill(v) : new Float32Array(n).fill(v);
  return encodeTensor({ type, data }, elem);
}

export function uploadTensor(ctx: GpuContext, buf: GPUBuffer, t: Tensor, elem: 'f32' | 'f16'): void {
  checkDevice(ctx);
  const bytes = encodeTensor(t, elem);
  if (bytes.byteLength > buf.size) {
    throw new Error(`upload of ${formatType(t.type)} (${bytes.byteLength} B) into ${buf.label} (${buf.size} B)`);
  }
  ctx.device.queue.writeBuffer(buf, 0, bytes);
}

/** Copies `bytes` from a storage buffer through a MAP_READ staging buffer; the result outlives the unmap. */
export async function readBuffer(ctx: GpuContext, src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  checkDevice(ctx);
  const size = Math.ceil(bytes / 4) * 4;
  const staging = await createBufferChecked(ctx, size, STAGING_USAGE, `staging(${src.label})`);
  try {
    const enc = ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, staging, 0, size);
    ctx.device.queue.submit([enc.finish()]);
    return await mapCopy(ctx, staging, size);
  } finally {
    staging.destroy();
  }
}

/** Maps a staging buffer, copies the range out (the mapped ArrayBuffer detaches on unmap) and always unmaps. */
export async function mapCopy(ctx: GpuContext, staging: GPUBuffer, size: number): Promise<ArrayBuffer> {
  try {
    await staging.mapAsync(USAGE.MAP_READ, 0, size);
  } catch (e) {
    checkDevice(ctx);
    throw new Error(`readback of ${staging.label} failed: ${(e as Error).message}`);
  }
  try {
    return staging.getMappedRange(0, size).slice(0);
  } finally {
    staging.unmap();
  }
}

export async function readTensor(
  ctx: GpuContext, src: GPUBuffer, type: TensorType, elem: 'f32' | 'f16',
): Promise<Tensor> {
  return decodeTensor(type, await readBuffer(ctx, src, storageBytes(type, elem)), elem);
}
