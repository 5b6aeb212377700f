import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import {
  checkManifest, compiledDenoiser, createCompiledExecutor, type CompiledManifest,
} from '../../runtime/compiled-executor.ts';
import { gaussianNoise } from '../../runtime/noise.ts';
import { openFolderCuda } from '../../runtime/cuda-folder.ts';
import { sampleFlow, type Denoiser } from '../../runtime/sampler.ts';
import { floatToClip } from '../data/moving-shapes.ts';
import { encodeGif } from '../video/gif.ts';

/**
 * The `main` of a compiled folder's run.js (compiler/compile/emit-run.ts prints this module into it). It may import
 * only node builtins, webgpu, and modules emit-run.ts inlines.
 */

export interface StandaloneArgs {
  readonly cls: string;
  readonly seed: number;
  readonly steps: number;
  readonly cfg: number;
  readonly output: string;
  readonly scale: number;
  readonly backend: 'wgsl' | 'cuda';
}

const RUN_USAGE = 'usage: node run.js --class <id|name> [--seed N] [--steps 30] [--cfg 2] [--scale 4] [-o clip.gif] ' +
  '[--backend wgsl|cuda]';

export function parseStandaloneArgs(argv: readonly string[]): StandaloneArgs {
  const v: Record<string, string> = { seed: '0', steps: '30', cfg: '2', scale: '4', output: 'clip.gif', backend: 'wgsl' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const key = flag === '-o' ? 'output' : flag.startsWith('--') ? flag.slice(2) : '';
    if (!['class', 'seed', 'steps', 'cfg', 'scale', 'output', 'backend'].includes(key) || argv[i + 1] === undefined) {
      throw new Error(`unknown or incomplete option '${flag}'; ${RUN_USAGE}`);
    }
    v[key] = argv[++i]!;
  }
  if (v['class'] === undefined) throw new Error(`--class is required; ${RUN_USAGE}`);
  const num = (k: string, int: boolean): number => {
    const x = Number(v[k]);
    if (!Number.isFinite(x) || (int && !Number.isInteger(x))) throw new Error(`--${k} must be a number, got '${v[k]}'`);
    return x;
  };
  const steps = num('steps', true);
  if (steps < 1 || steps > 10_000) throw new Error(`--steps must be an integer in [1, 10000], got ${steps}`);
  const backend = v['backend']!;
  if (backend !== 'wgsl' && backend !== 'cuda') throw new Error(`--backend must be wgsl or cuda, got '${backend}'`);
  return {
    cls: v['class'], seed: num('seed', true), steps, cfg: num('cfg', false), output: v['output']!,
    scale: num('scale', true), backend,
  };
}

/** A class id, or a class name whose words may come in any order ("circle red right"). */
export function resolveClassName(text: string, names: readonly string[]): number {
  const t = text.trim();
  const words = (s: string): string => s.toLowerCase().split(/[\s_,-]+/).filter(Boolean).sort().join(' ');
  const id = /^\d+$/.test(t) ? Number(t) : names.findIndex((n) => words(n) === words(t));
  if (!(id >= 0 && id < names.length)) {
    throw new Error(`invalid class '${text}': expected an id 0..${names.length - 1} or a name, e.g. "${names[0]}"`);
  }
  return id;
}

const DAWN_FLAGS = ['backend=vulkan', 'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'];
const LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage',
];

/** Opens Dawn like runtime/device.ts; warns when the adapter is not the one the folder was compiled for. */
export async function openStandaloneDevice(manifest: CompiledManifest): Promise<GPUDevice> {
  Object.assign(globalThis, globals);
  // Dawn crashes once the object from create() is garbage-collected: keep it referenced for the process
  const gpu = create([...DAWN_FLAGS]);
  (globalThis as unknown as { vditDawn: unknown }).vditDawn = gpu;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter: install a Vulkan driver');
  const want = manifest.device;
  const info = adapter.info;
  if (info.description !== want.description || info.vendor !== want.vendor || info.device !== want.device) {
    process.stderr.write(`warning: compiled for '${want.description}' (${want.vendor}), running on ` +
      `'${info.description}' (${info.vendor}): kernels were chosen for the other adapter\n`);
  }
  const requiredFeatures = want.features.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) requiredLimits[k] = (adapter.limits as unknown as Record<string, number>)[k]!;
  return adapter.requestDevice({ requiredFeatures, requiredLimits });
}

/** The folder's denoiser on WebGPU (Dawn) or CUDA (cuda/runner.cu, built with nvcc on first use). */
async function openStandaloneModel(
  dir: string, manifest: CompiledManifest, weights: Uint8Array, backend: 'wgsl' | 'cuda',
): Promise<{ denoise: Denoiser; close: () => void }> {
  if (backend === 'cuda') return openFolderCuda(dir, manifest, weights);
  const device = await openStandaloneDevice(manifest);
  const exec = await createCompiledExecutor(device, manifest, weights, (f) => readFileSync(join(dir, f), 'utf8'));
  return { denoise: compiledDenoiser(exec), close: () => exec.dispose() };
}

/** Samples one clip with the folder's model and writes it as a GIF; returns the class id used. */
export async function runStandalone(dir: string, argv: readonly string[]): Promise<number> {
  const args = parseStandaloneArgs(argv);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
  checkManifest(manifest);
  const cls = resolveClassName(args.cls, manifest.model.classNames);
  const weights = new Uint8Array(readFileSync(join(dir, 'weights.bin')));
  const model = await openStandaloneModel(dir, manifest, weights, args.backend);
  const shape = manifest.model.clipShape;
  const noise = gaussianNoise(shape[0] * shape[1] * shape[2] * shape[3], args.seed);
  const t0 = performance.now();
  let clip: Float32Array | undefined;
  try {
    [clip] = await sampleFlow(model.denoise, [noise], [cls], {
      steps: args.steps, cfg: args.cfg, nullClass: manifest.model.nullClass,
    });
  } finally {
    model.close();
  }
  await writeFile(args.output, encodeGif(floatToClip(clip!), shape, { scale: args.scale }));
  const s = ((performance.now() - t0) / 1000).toFixed(3);
  process.stdout.write(`${args.output}: class ${cls} (${manifest.model.classNames[cls]}), seed ${args.seed}, ` +
    `${args.steps} steps, cfg ${args.cfg}: ${s} s\n`);
  return cls;
}
