/**
 * The manifest-driven executor of a compiled folder (`vdit compile`): buffers come pre-encoded from weights.bin,
 * kernels from kernels/*.wgsl, and the schedule from manifest.json. compiler/compile/emit-run.ts prints this
 * module's source into the folder's run.js (with the declarations it imports, f16BitsToF32 and runtime/carry.ts's): `vdit generate
 * <folder>` and `node <folder>/run.js` run the same code.
 */
import { f16BitsToF32 } from '../compiler/weights/f16.ts';
import { carryingDenoiser, manifestCarry } from './carry.ts';

export const COMPILED_FORMAT = 'vdit-compiled/1';

export interface ManifestBuffer {
  readonly id: number;
  readonly kind: 'input' | 'param' | 'const' | 'temp';
  /** allocation size */
  readonly bytes: number;
  readonly label: string;
  /** where its initial contents lie in weights.bin (param and const buffers) */
  readonly offset?: number;
  readonly size?: number;
  readonly dtype?: string;
  readonly shape?: readonly number[];
  /** 'f16': weights.bin holds IEEE halves (f32 params that f16 holds exactly), widened to f32 on upload */
  readonly stored?: 'f16';
}

export interface ManifestKernel {
  /** path relative to the folder, e.g. kernels/03-gemm_f32.wgsl */
  readonly file: string;
  readonly key: string;
  readonly name: string;
  readonly entry: string;
  readonly operands: number;
  readonly uniforms: boolean;
  readonly features: readonly string[];
}

export interface ManifestStep {
  /** index into kernels */
  readonly kernel: number;
  readonly dispatch: readonly [number, number, number];
  /** buffer ids bound in order: operands, then the result */
  readonly buffers: readonly number[];
  /** bytes of each binding (the bound value's storage size) */
  readonly sizes: readonly number[];
  /** uniform buffer contents, base64 */
  readonly uniforms?: string;
}

export interface ManifestTensor {
  readonly name: string;
  readonly buffer: number;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: number;
}

export interface ManifestModel {
  readonly name: string;
  /** [T, H, W, C] of one clip */
  readonly clipShape: readonly [number, number, number, number];
  readonly batch: number;
  readonly classes: number;
  readonly nullClass: number;
  readonly classNames: readonly string[];
}

export interface CompiledManifest {
  readonly format: string;
  readonly elem: 'f32';
  readonly quant: string;
  readonly pipeline: string;
  readonly weightsBytes: number;
  readonly buffers: readonly ManifestBuffer[];
  readonly kernels: readonly ManifestKernel[];
  readonly steps: readonly ManifestStep[];
  readonly inputs: readonly ManifestTensor[];
  readonly outputs: readonly ManifestTensor[];
  readonly model: ManifestModel;
  /** the adapter it was compiled for; kernels were chosen for its caps */
  readonly device: { readonly vendor: string; readonly architecture: string; readonly device: string;
    readonly description: string; readonly features: readonly string[] };
}

export interface CompiledExecutor {
  readonly manifest: CompiledManifest;
  /** inputs by name (floats as Float32Array, i32 as Int32Array) → the outputs, floats as Float32Array */
  run(inputs: Readonly<Record<string, ArrayLike<number>>>): Promise<Float32Array[]>;
  /**
   * A run with the carried state kept on the device (runtime/carry.ts: the `carry.*` inputs, their next values the
   * last outputs): the other inputs → the outputs before the carries; the carries start at zero
   */
  step(inputs: Readonly<Record<string, ArrayLike<number>>>): Promise<Float32Array[]>;
  dispose(): void;
}

// GPUBufferUsage / GPUShaderStage values, spelled out: the WebGPU globals may not be installed
const BUF_MAP_READ = 0x1;
const BUF_COPY_SRC = 0x4;
const BUF_COPY_DST = 0x8;
const BUF_UNIFORM = 0x40;
const BUF_STORAGE = 0x80;
const STAGE_COMPUTE = 0x4;

export function checkManifest(m: CompiledManifest): void {
  if (m.format !== COMPILED_FORMAT) throw new Error(`manifest format '${m.format}' is not ${COMPILED_FORMAT}`);
  if (m.elem !== 'f32') throw new Error(`compiled folders store f32 activations, manifest says '${m.elem}'`);
}

/** Creates every buffer and pipeline of the manifest on `device`; `kernelSource(file)` reads a kernel file. */
export async function createCompiledExecutor(
  device: GPUDevice, manifest: CompiledManifest, weights: Uint8Array, kernelSource: (file: string) => string,
): Promise<CompiledExecutor> {
  checkManifest(manifest);
  if (weights.byteLength !== manifest.weightsBytes) {
    throw new Error(`weights.bin holds ${weights.byteLength} bytes, the manifest expects ${manifest.weightsBytes}`);
  }
  const buffers = manifest.buffers.map((b) => createLoadedBuffer(device, b, weights));
  const uniforms: GPUBuffer[] = [];
  const pipelines = await Promise.all(manifest.kernels.map((k) => createKernelPipeline(device, k, kernelSource)));
  const steps = manifest.steps.map((s) => {
    const { pipeline, layout } = pipelines[s.kernel]!;
    const entries: GPUBindGroupEntry[] = s.buffers.map((b, i) => ({
      binding: i, resource: { buffer: buffers[b]!, offset: 0, size: s.sizes[i]! },
    }));
    if (s.uniforms !== undefined) {
      const u = uniformBuffer(device, s.uniforms);
      uniforms.push(u);
      entries.push({ binding: entries.length, resource: { buffer: u } });
    }
    return { pipeline, bindGroup: device.createBindGroup({ layout, entries }), dispatch: s.dispatch };
  });
  await device.queue.onSubmittedWorkDone();
  const carry = manifestCarry(manifest.inputs, manifest.outputs.length);
  const carried = new Set(carry.slots.map((c) => c.name));
  // each carry's output buffer and its input buffer, resolved once
  const moves = carry.slots.map((c) =>
    ({ from: manifest.outputs[c.output]!, to: manifest.inputs.find((t) => t.name === c.name)! }));
  type Inputs = Readonly<Record<string, ArrayLike<number>>>;
  const execute = async (inputs: Inputs, onDevice: boolean): Promise<Float32Array[]> => {
    for (const t of manifest.inputs) {
      if (onDevice && carried.has(t.name)) continue;
      device.queue.writeBuffer(buffers[t.buffer]!, 0, encodeInput(t, inputs[t.name]));
    }
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const s of steps) {
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.bindGroup);
      pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
    }
    pass.end();
    const copies = onDevice ? moves : [];
    for (const { from, to } of copies) {
      if (from.buffer === to.buffer) continue;
      enc.copyBufferToBuffer(buffers[from.buffer]!, 0, buffers[to.buffer]!, 0, from.bytes);
    }
    const staged = manifest.outputs.slice(0, manifest.outputs.length - copies.length).map((o) => {
      const buf = device.createBuffer({ size: o.bytes, usage: BUF_MAP_READ | BUF_COPY_DST });
      enc.copyBufferToBuffer(buffers[o.buffer]!, 0, buf, 0, o.bytes);
      return buf;
    });
    device.queue.submit([enc.finish()]);
    return Promise.all(staged.map(async (buf, i) => {
      await buf.mapAsync(BUF_MAP_READ);
      const out = decodeOutput(manifest.outputs[i]!, buf.getMappedRange().slice(0));
      buf.destroy();
      return out;
    }));
  };
  const dispose = (): void => {
    for (const b of [...buffers, ...uniforms]) b.destroy();
  };
  return { manifest, run: (inputs) => execute(inputs, false), step: (inputs) => execute(inputs, true), dispose };
}

function createLoadedBuffer(device: GPUDevice, b: ManifestBuffer, weights: Uint8Array): GPUBuffer {
  const buf = device.createBuffer({ size: b.bytes, usage: BUF_STORAGE | BUF_COPY_SRC | BUF_COPY_DST, label: b.label });
  if (b.offset !== undefined && b.size !== undefined) {
    const bytes = weights.subarray(b.offset, b.offset + b.size);
    device.queue.writeBuffer(buf, 0, b.stored === 'f16' ? widenHalves(bytes) : bytes);
  }
  return buf;
}

/** Little-endian IEEE half bytes (as weights.bin is written) → f32 values. */
export function widenHalves(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = f16BitsToF32(view.getUint16(2 * i, true));
  return out;
}

async function createKernelPipeline(
  device: GPUDevice, k: ManifestKernel, kernelSource: (file: string) => string,
): Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }> {
  const missing = k.features.filter((f) => !device.features.has(f));
  if (missing.length) throw new Error(`kernel ${k.name} needs device features ${missing.join(', ')}`);
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (let i = 0; i < k.operands; i++) {
    entries.push({ binding: i, visibility: STAGE_COMPUTE, buffer: { type: 'read-only-storage' } });
  }
  entries.push({ binding: k.operands, visibility: STAGE_COMPUTE, buffer: { type: 'storage' } });
  if (k.uniforms) entries.push({ binding: k.operands + 1, visibility: STAGE_COMPUTE, buffer: { type: 'uniform' } });
  const layout = device.createBindGroupLayout({ label: k.name, entries });
  const module = device.createShaderModule({ code: kernelSource(k.file), label: k.name });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) {
    throw new Error(`kernel ${k.file}: ${errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join('; ')}`);
  }
  const pipeline = await device.createComputePipelineAsync({
    label: k.name, layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: k.entry },
  });
  return { pipeline, layout };
}

function uniformBuffer(device: GPUDevice, base64: string): GPUBuffer {
  const data = Uint8Array.from(Buffer.from(base64, 'base64'));
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buf = device.createBuffer({ size, usage: BUF_UNIFORM | BUF_COPY_DST });
  const padded = new Uint8Array(size);
  padded.set(data);
  device.queue.writeBuffer(buf, 0, padded);
  return buf;
}

const FLOAT_DTYPES = ['f32', 'f16', 'bf16'];

function encodeInput(t: ManifestTensor, data: ArrayLike<number> | undefined): Uint8Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (!data) throw new Error(`missing input '${t.name}' (${t.dtype}[${t.shape.join(',')}])`);
  if (data.length !== n) throw new Error(`input '${t.name}': expected ${n} values, got ${data.length}`);
  if (FLOAT_DTYPES.includes(t.dtype)) return new Uint8Array(Float32Array.from(data).buffer);
  if (t.dtype === 'i32') return new Uint8Array(Int32Array.from(data).buffer);
  throw new Error(`input '${t.name}': dtype ${t.dtype} is not supported by compiled folders`);
}

function decodeOutput(t: ManifestTensor, bytes: ArrayBuffer): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (FLOAT_DTYPES.includes(t.dtype)) return new Float32Array(bytes, 0, n);
  if (t.dtype === 'i32') return Float32Array.from(new Int32Array(bytes, 0, n));
  throw new Error(`output ${t.buffer}: dtype ${t.dtype} is not supported by compiled folders`);
}

/** The compiled x/t/y denoiser as a sampler Denoiser (runtime/sampler.ts). */
export function compiledDenoiser(
  exec: CompiledExecutor,
): (x: Float32Array, t: Float32Array, y: Int32Array) => Promise<Float32Array> {
  const carry = manifestCarry(exec.manifest.inputs, exec.manifest.outputs.length);
  // carried state stays on the device: only x, t, y and the velocity cross to and from it
  if (carry.slots.length) return async (x, t, y) => (await exec.step({ x, t, y }))[0]!;
  return carryingDenoiser(carry, (inputs) => exec.run(inputs));
}
