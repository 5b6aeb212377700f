/**
 * A compiled folder's model on CUDA: `vdit compile --target cuda` writes cuda/runner.cu and cuda/runner.json beside
 * the WGSL build; params come from the same weights.bin through manifest.json's `param:<name>` buffers (the CUDA
 * kernels share the WebGPU storage layout). emit-run.ts inlines this module into run.js (`--backend cuda`), so it
 * imports only node builtins and inlined modules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { carryingDenoiser, manifestCarry } from './carry.ts';
import { widenHalves, type CompiledManifest, type ManifestTensor } from './compiled-executor.ts';
import { buildCudaRunner, type CudaBuildOptions } from './cuda-build.ts';
import { CudaProcess, freshInputs, type CudaRunnerSpec } from './cuda-process.ts';

export interface FolderCuda {
  readonly device: string;
  /** the x/t/y denoiser of runtime/sampler.ts */
  denoise(x: Float32Array, t: Float32Array, y: Int32Array): Promise<Float32Array>;
  close(): void;
}

/** Builds (once per source hash) and starts the folder's runner, then uploads its params from weights.bin. */
export async function openFolderCuda(
  dir: string, manifest: CompiledManifest, weights: Uint8Array, opts: CudaBuildOptions = {},
): Promise<FolderCuda> {
  const cu = path.join(dir, 'cuda', 'runner.cu');
  if (!fs.existsSync(cu)) {
    throw new Error(`${dir} has no cuda/runner.cu: --backend cuda needs the folder compiled with \`vdit compile ` +
      `... --target cuda\` (and nvcc plus an NVIDIA GPU to run it)`);
  }
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'cuda', 'runner.json'), 'utf8')) as CudaRunnerSpec;
  const params = manifest.buffers.filter((b) => b.kind === 'param');
  const stored = new Map(params.map((b) => [b.label.replace(/^param:/, ''), b]));
  const missing = spec.params.filter((p) => stored.get(p.name)?.offset === undefined).map((p) => p.name);
  if (missing.length) {
    throw new Error(`manifest.json lacks the runner's params ${missing.join(', ')}: recompile the folder`);
  }
  const proc = await CudaProcess.start(buildCudaRunner(fs.readFileSync(cu, 'utf8'), opts), spec, opts);
  try {
    await proc.uploadParams((i) => {
      const b = stored.get(spec.params[i]!.name)!;
      const bytes = weights.subarray(b.offset!, b.offset! + b.size!);
      return b.stored === 'f16' ? new Uint8Array(widenHalves(bytes).buffer) : bytes;
    });
  } catch (e) {
    proc.close();
    throw e;
  }
  const floats = (o: Uint8Array, i: number): Float32Array =>
    new Float32Array(o.buffer, o.byteOffset, spec.outputs[i]!.shape.reduce((a, b) => a * b, 1));
  // carried state stays on the device (the runner's step request): only x, t, y and the velocity cross the pipes
  const carry = manifestCarry(spec.inputs, spec.outputs.length);
  const fresh = freshInputs(spec);
  const denoise = carry.slots.length
    ? async (x: Float32Array, t: Float32Array, y: Int32Array): Promise<Float32Array> => {
      const data: Record<string, ArrayLike<number>> = { x, t, y };
      return floats((await proc.step(fresh.map((s) => folderInput(s, data[s.name]))))[0]!, 0);
    }
    : carryingDenoiser(carry, async (data) =>
      (await proc.forward(spec.inputs.map((s) => folderInput(s, data[s.name])))).map(floats));
  return { device: proc.device, denoise, close: () => proc.close() };
}

function folderInput(
  s: Pick<ManifestTensor, 'name' | 'dtype' | 'shape'>, data: ArrayLike<number> | undefined,
): Uint8Array {
  const n = s.shape.reduce((a, b) => a * b, 1);
  if (!data) throw new Error(`the runner takes input '${s.name}', which the sampler does not give`);
  if (data.length !== n) throw new Error(`input '${s.name}': expected ${n} values, got ${data.length}`);
  if (s.dtype === 'i32') return new Uint8Array(Int32Array.from(data).buffer);
  if (['f32', 'f16', 'bf16'].includes(s.dtype)) return new Uint8Array(Float32Array.from(data).buffer);
  throw new Error(`input '${s.name}': dtype ${s.dtype} is not supported by compiled folders`);
}
