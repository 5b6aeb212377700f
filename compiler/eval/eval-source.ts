import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCompileOptions, describeBuild, type QuantBuild } from '../compile/quant-build.ts';
import { openCompiledDenoiser, readManifest } from '../generate/compiled-session.ts';
import type { KernelChoice } from '../../targets/wgsl/select.ts';
import { openDenoiser, type Backend, type DenoiserSession } from '../generate/session.ts';
import { buildDiT } from '../model/dit.ts';
import type { LoadedModel } from '../models.ts';

/** A folder written by `vdit compile`, evaluated as it is: its own batch, quantization and kernels. */
export interface CompiledModel {
  readonly compiledDir: string;
}

/** Which quantized build of a preset or IR model to evaluate (the build `vdit compile` would write). */
export interface EvalQuant {
  readonly setting: string;
  readonly method: string;
  readonly keepFp: readonly string[];
}

export interface EvalSource {
  readonly name: string;
  readonly weightsFrom: string;
  readonly session: DenoiserSession;
  /** absent for an FP run */
  readonly quant?: QuantBuild;
}

export interface SourceOptions {
  readonly backend: Backend;
  readonly dtype: 'f32' | 'f16';
  readonly batch: number;
  readonly quant?: EvalQuant;
  readonly kernels?: KernelChoice;
}

export function isCompiledModel(m: LoadedModel | CompiledModel): m is CompiledModel {
  return 'compiledDir' in m;
}

/** Opens the denoiser an eval samples with, and says what build it is. */
export async function openEvalSource(model: LoadedModel | CompiledModel, opts: SourceOptions): Promise<EvalSource> {
  if (isCompiledModel(model)) return openCompiledSource(model.compiledDir, opts);
  const q = opts.quant;
  if (!q) {
    const session = await openDenoiser(model, {
      backend: opts.backend, dtype: opts.dtype, clips: opts.batch, ...(opts.kernels ? { kernels: opts.kernels } : {}),
    });
    return { name: model.name, weightsFrom: model.weightsFrom, session };
  }
  const setting = checkCompileOptions(q.setting, q.method);
  if (q.method === 's2q') {
    throw new Error('--method s2q trains per block before the build: compile it (`vdit compile <model> --quant ' +
      `${q.setting} --method s2q --batch ${opts.batch} -o <dir>\`) and pass the folder to eval`);
  }
  // byte accounting needs shapes only: the batch-2 graph of a preset, or the IR file's own
  const graph = model.config ? buildDiT({ ...model.config, batch: 2 }) : model.graph;
  const quant = describeBuild(graph, setting, q.method, q.keepFp);
  const session = await openDenoiser(model, {
    backend: opts.backend, dtype: opts.dtype, clips: opts.batch, quant: { setting, keepFp: q.keepFp, method: q.method },
    ...(opts.kernels ? { kernels: opts.kernels } : {}),
  });
  return { name: model.name, weightsFrom: model.weightsFrom, session, quant };
}

async function openCompiledSource(dir: string, opts: SourceOptions): Promise<EvalSource> {
  if (opts.quant) throw new Error(`${dir} is a compiled folder: its quantization is fixed, drop --quant/--keep-fp`);
  if (opts.backend !== 'wgsl') throw new Error(`${dir} is a compiled folder: it runs on the wgsl backend only`);
  if (opts.dtype !== 'f32') throw new Error(`${dir} is a compiled folder: it stores f32, not --dtype ${opts.dtype}`);
  const manifest = readManifest(dir);
  const k = manifest.model.batch / 2;
  if (opts.batch !== k) {
    throw new Error(`${dir} was compiled for ${k} clip(s) per forward (batch ${manifest.model.batch}); ` +
      `--batch ${opts.batch} needs a preset, which can be rebuilt at any batch`);
  }
  const session = await openCompiledDenoiser(dir);
  return { name: manifest.model.name, weightsFrom: dir, session, quant: compiledBuild(dir, manifest) };
}

/** The build of a compiled folder, from its report.json (manifest.json alone lacks the method and the ratio). */
function compiledBuild(dir: string, manifest: ReturnType<typeof readManifest>): QuantBuild {
  const file = join(dir, 'report.json');
  const report = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<{
    method: string; keepFp: string[]; quantization: { totals: { compressionRatio: number } };
  }>) : {};
  return {
    setting: manifest.quant, method: report.method ?? 'unknown', keepFp: report.keepFp ?? [],
    pipeline: manifest.pipeline, compressionRatio: report.quantization?.totals.compressionRatio ?? NaN,
  };
}

/** Clips per forward of a compiled folder (the default --batch of its eval). */
export function compiledClipsPerForward(dir: string): number {
  return readManifest(dir).model.batch / 2;
}
