import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Graph } from '../../ir/graph.ts';
import type { PrunedBlock } from '../../passes/prune-tokens.ts';
import { attr } from '../../ir/node.ts';
import { encodeTensor, fillBytes, storageBytes } from '../../runtime/buffers.ts';
import {
  COMPILED_FORMAT, type CompiledManifest, type ManifestBuffer, type ManifestKernel, type ManifestStep,
  type ManifestTensor,
} from '../../runtime/compiled-executor.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { clipsPerForward } from '../../runtime/sampler.ts';
import { lowerNode } from '../../targets/wgsl/select.ts';
import { planWgsl, type WgslProgram } from '../../runtime/wgsl-program.ts';
import { CLASS_NAMES, NULL_CLASS, NUM_CLASSES } from '../data/classes.ts';
import type { MethodReport } from '../quant/method-report.ts';
import { quantizationReport, type QuantReport } from '../quant/quantized-weights.ts';
import type { Weights } from '../weights/weights.ts';
import { writeCuda } from './emit-cuda.ts';
import { roundF16, toF16Bits } from '../weights/f16.ts';
import { emitRunJs } from './emit-run.ts';
import { vendoredFiles } from './vendor.ts';
import {
  checkCompileOptions, compilePipeline, compileQuantConfig, lowerQuantized, type BuildCalibration,
} from './quant-build.ts';

export { checkCompileOptions, COMPILE_METHODS, COMPILE_QUANTS, compilePipeline } from './quant-build.ts';

export interface CompileOptions {
  readonly quant: string;
  readonly method: string;
  /** layer globs kept FP on top of the deployment profile's exclusions (compiler/quant/spec.ts) */
  readonly keepFp?: readonly string[];
  /** the device the folder will run on: kernels are chosen for its caps */
  readonly gpu: GpuContext;
  readonly modelName: string;
  /** class labels incl. the null class; default the moving-shapes table (48 + null) */
  readonly classes?: number;
  /** 'cuda' also writes cuda/*.cu beside the WGSL build (compiler/compile/emit-cuda.ts); default 'wgsl' */
  readonly target?: 'wgsl' | 'cuda';
  /** precomputed calibration (s2q's method model) */
  readonly calibration?: BuildCalibration;
  /** what that calibration did, recorded in report.json */
  readonly calibrationReport?: Readonly<Record<string, unknown>>;
}

export interface CompileReport {
  readonly model: string;
  readonly quant: string;
  readonly method: string;
  readonly keepFp: readonly string[];
  readonly pipeline: string;
  readonly kernels: number;
  readonly steps: number;
  readonly weightsBytes: number;
  readonly compileMs: number;
  readonly adapter: string;
  readonly quantization: QuantReport;
  /** calibration time and what the method left online (compiler/quant/method-report.ts) */
  readonly methodReport: MethodReport;
  readonly calibration?: Readonly<Record<string, unknown>>;
  /** kept K/V tiles per block when `--prune` ran */
  readonly pruning?: readonly PrunedBlock[];
}

/** The lowered graph, its weights (quantized lazily) and the WGSL program for `gpu`. */
export function lowerForCompile(
  graph: Graph, weights: Weights, quant: string, gpu: GpuContext, keepFp: readonly string[] = [], method = 'rtn',
  calibration: BuildCalibration = {},
): { graph: Graph; weights: Weights; program: WgslProgram; methodReport: MethodReport; pruned?: readonly PrunedBlock[] } {
  const { graph: lowered, weights: qweights, report, pruned } = lowerQuantized(graph, weights, quant, keepFp, method, calibration);
  const program = planWgsl(lowered, { elem: 'f32', caps: gpu.caps }, lowerNode);
  return { graph: lowered, weights: qweights, program, methodReport: report, ...(pruned ? { pruned } : {}) };
}

/**
 * Compiles a batch-2K class-conditioned denoiser into a self-contained folder (manifest.json, weights.bin,
 * kernels/*.wgsl, run.js, package.json, report.json), written to a temp folder and moved into outDir when complete.
 */
export function compileModel(graph: Graph, weights: Weights, options: CompileOptions, outDir: string): CompileReport {
  const t0 = performance.now();
  const quant = checkCompileOptions(options.quant, options.method);
  clipsPerForward(graph);
  const keepFp = options.keepFp ?? [];
  const { graph: lowered, weights: qweights, program, methodReport, pruned } =
    lowerForCompile(graph, weights, quant, options.gpu, keepFp, options.method, options.calibration);
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const put = (bytes: ArrayBuffer): { offset: number; size: number } => {
    const at = { offset, size: bytes.byteLength };
    blobs.push(new Uint8Array(bytes));
    offset += Math.ceil(bytes.byteLength / 4) * 4;
    if (bytes.byteLength % 4) blobs.push(new Uint8Array(4 - (bytes.byteLength % 4)));
    return at;
  };
  const buffers = program.buffers.map((b) => manifestBuffer(b, qweights, put));
  const { kernels, sources, steps } = manifestSchedule(program);
  const manifest: CompiledManifest = {
    format: COMPILED_FORMAT, elem: 'f32', quant, pipeline: compilePipeline(quant, keepFp), weightsBytes: offset,
    buffers,
    kernels, steps, inputs: graphTensors(program, 'input'), outputs: graphTensors(program, 'output'),
    model: modelInfo(graph, options), device: deviceInfo(options.gpu),
  };
  const quantization = quantizationReport(graph, compileQuantConfig(quant, keepFp), weights);
  const report: CompileReport = {
    model: options.modelName, quant, method: options.method, keepFp: [...keepFp], pipeline: manifest.pipeline,
    kernels: kernels.length,
    steps: steps.length, weightsBytes: offset, compileMs: 0, adapter: manifest.device.description,
    quantization, methodReport, ...(options.calibrationReport ? { calibration: options.calibrationReport } : {}),
    ...(pruned ? { pruning: pruned } : {}),
  };
  replaceDirAtomic(outDir, (tmp) => {
    writeFileSync(join(tmp, 'weights.bin'), Buffer.concat(blobs));
    writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
    mkdirSync(join(tmp, 'kernels'));
    kernels.forEach((k, i) => writeFileSync(join(tmp, k.file), sources[i]!));
    writeFileSync(join(tmp, 'run.js'), emitRunJs());
    for (const f of vendoredFiles()) {
      mkdirSync(dirname(join(tmp, f.path)), { recursive: true });
      writeFileSync(join(tmp, f.path), f.bytes);
    }
    writeFileSync(join(tmp, 'package.json'), packageJson(options.modelName));
    if (options.target === 'cuda') writeCuda(lowered, tmp);
    const done = { ...report, compileMs: performance.now() - t0 };
    writeFileSync(join(tmp, 'report.json'), `${JSON.stringify(done, null, 2)}\n`);
    Object.assign(report, done);
  });
  return report;
}

function manifestBuffer(
  b: WgslProgram['buffers'][number], weights: Weights, put: (bytes: ArrayBuffer) => { offset: number; size: number },
): ManifestBuffer {
  const base = { id: b.index, kind: b.kind, bytes: b.bytes, label: b.label };
  const leaf = b.leaf;
  if (!leaf || b.kind === 'temp') return base;
  const typed = { ...base, dtype: leaf.type.dtype, shape: [...leaf.type.shape] };
  if (b.kind === 'input') return typed;
  if (b.kind === 'const') {
    const value = leaf.attrs['value'];
    if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(`const #${leaf.id} has no value`);
    return { ...typed, ...put(fillBytes(leaf.type, value, 'f32')) };
  }
  const name = attr<string>(leaf, 'name');
  const t = weights.get(name);
  if (!t) throw new Error(`weights lack param '${name}'`);
  // FP params at FP16 where that loses nothing (trained weights ship as f16); scales and anything finer stay f32
  const float = t.type.dtype === 'f32' || t.type.dtype === 'f16';
  if (float && t.data instanceof Float32Array && t.data.every((v) => roundF16(v) === v)) {
    return { ...typed, ...put(toF16Bits(t.data).buffer as ArrayBuffer), stored: 'f16' };
  }
  return { ...typed, ...put(encodeTensor(t, 'f32')) };
}

/** One kernel file per distinct (key, operand count, uniforms) — the pipeline-cache identity. */
function manifestSchedule(program: WgslProgram): {
  kernels: ManifestKernel[]; sources: string[]; steps: ManifestStep[];
} {
  const kernels: ManifestKernel[] = [];
  const sources: string[] = [];
  const index = new Map<string, number>();
  const steps = program.steps.map((s): ManifestStep => {
    const k = s.kernel;
    const operands = s.node.src.length;
    const id = `${k.key}#${operands}${k.uniforms ? 'u' : ''}`;
    let ki = index.get(id);
    if (ki === undefined) {
      ki = kernels.length;
      index.set(id, ki);
      const file = `kernels/${String(ki).padStart(3, '0')}-${k.name.replace(/[^A-Za-z0-9_-]/g, '_')}.wgsl`;
      kernels.push({ file, key: k.key, name: k.name, entry: k.entry, operands, uniforms: !!k.uniforms,
        features: [...k.features] });
      sources.push(k.source);
    }
    const sizes = [...s.node.src, s.node].map((n) => Math.max(4, storageBytes(n.type, 'f32')));
    return {
      kernel: ki, dispatch: [...k.dispatch], buffers: [...s.inputBuffers, s.outputBuffer], sizes,
      ...(k.uniforms ? { uniforms: Buffer.from(k.uniforms).toString('base64') } : {}),
    };
  });
  return { kernels, sources, steps };
}

function graphTensors(program: WgslProgram, which: 'input' | 'output'): ManifestTensor[] {
  const nodes = which === 'input' ? program.graph.inputs : program.graph.outputs;
  return nodes.map((n, i) => ({
    name: which === 'input' ? attr<string>(n, 'name') : `output${i}`, buffer: program.bufferOf.get(n)!,
    dtype: n.type.dtype, shape: [...n.type.shape], bytes: Math.max(4, storageBytes(n.type, 'f32')),
  }));
}

function modelInfo(graph: Graph, options: CompileOptions): CompiledManifest['model'] {
  const x = graph.inputs.find((n) => n.attrs['name'] === 'x')!;
  const [batch, t, h, w, c] = x.type.shape;
  const classes = options.classes ?? NUM_CLASSES + 1;
  return {
    name: options.modelName, clipShape: [t!, h!, w!, c!], batch: batch!, classes,
    nullClass: options.classes !== undefined ? options.classes - 1 : NULL_CLASS, classNames: [...CLASS_NAMES],
  };
}

function deviceInfo(gpu: GpuContext): CompiledManifest['device'] {
  return { ...gpu.info.adapter, features: [...gpu.info.features] };
}

function packageJson(model: string): string {
  const pkg = {
    name: `vdit-compiled-${model.replace(/[^a-z0-9-]/gi, '-').toLowerCase()}`, version: '1.0.0', private: true,
    type: 'module', description: `${model} compiled by vdit: node run.js --class <id|name> --seed N -o clip.gif`,
    main: 'run.js', bin: { 'vdit-run': 'run.js' }, engines: { node: '>=20' },
    dependencies: { webgpu: '0.6.2' },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/**
 * Fills a temp folder beside dir, then swaps it in: an earlier compiled folder is replaced whole (never merged,
 * so no stale kernel file survives); any other non-empty folder is refused rather than deleted.
 */
function replaceDirAtomic(dir: string, fill: (tmp: string) => void): void {
  if (existsSync(dir)) {
    const compiled = statSync(dir).isDirectory() && existsSync(join(dir, 'manifest.json'));
    if (!compiled && (!statSync(dir).isDirectory() || readdirSync(dir).length)) {
      throw new Error(`${dir} exists and is not a compiled folder (no manifest.json): refusing to replace it`);
    }
  }
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  const old = `${tmp}-old`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill(tmp);
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}
