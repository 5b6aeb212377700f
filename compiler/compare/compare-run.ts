import type { Graph } from '../../ir/graph.ts';
import type { GpuContext } from '../../runtime/device.ts';
import type { WgslProgram } from '../../runtime/wgsl-program.ts';
import { cardPeak, type CardPeak } from '../bench/peaks.ts';
import { checkCompileOptions, lowerForCompile } from '../compile/compile-model.ts';
import { buildDiT } from '../model/dit.ts';
import { loadModel } from '../models.ts';
import type { Weights } from '../weights/weights.ts';
import { checkKernel, type KernelResult } from './check-kernel.ts';
import { runCudaRows } from './cuda-column.ts';
import { kernelRows, type KernelRow } from './kernel-rows.ts';

export interface CompareOptions {
  readonly model: string;
  readonly quant: string;
  readonly method: string;
  readonly keepFp?: readonly string[];
  /** safetensors file or 'seeded'; absent: the preset's shipped weights (models.ts) */
  readonly weights?: string;
}

/** The compiled model as `vdit compile` builds it for this device, cut into its distinct kernels. */
export interface CompareBuild {
  readonly model: string;
  readonly quant: string;
  readonly method: string;
  readonly graph: Graph;
  readonly program: WgslProgram;
  readonly rows: readonly KernelRow[];
}

/** Same graph, quantization and kernel choice as compile-model.ts: the preset at batch 2 (one CFG pair). */
export function buildCompare(gpu: GpuContext, o: CompareOptions): CompareBuild {
  const model = loadModel(o.model, o.weights ? { weights: o.weights } : {});
  const graph = model.config ? buildDiT({ ...model.config, batch: 2 }) : model.graph;
  return buildCompareOf(gpu, model.name, graph, model.weights, o);
}

/** The compiled kernels of an already built graph (tests pass a narrow model). */
export function buildCompareOf(
  gpu: GpuContext, name: string, graph: Graph, weights: Weights, o: Omit<CompareOptions, 'model' | 'weights'>,
): CompareBuild {
  const quant = checkCompileOptions(o.quant, o.method);
  const { graph: lowered, program } = lowerForCompile(graph, weights, quant, gpu, o.keepFp ?? [], o.method);
  return { model: name, quant, method: o.method, graph: lowered, program, rows: kernelRows(program) };
}

export interface CompareReport {
  readonly model: string;
  readonly quant: string;
  readonly method: string;
  readonly adapter: string;
  /** lavapipe / SwiftShader: times are the CPU's, and no card ceiling applies */
  readonly softwareAdapter: boolean;
  /** the card whose dense peaks the % column divides by; absent for cards not in compiler/bench/peaks.ts */
  readonly peak?: CardPeak;
  readonly seed: number;
  readonly warmup: number;
  readonly repeats: number;
  readonly dispatches: number;
  readonly rows: readonly KernelResult[];
  /** the device the CUDA columns ran on, or why they did not run */
  readonly cuda?: { readonly device: string; readonly emulated: boolean } | { readonly unavailable: string };
}

export interface RunCompareOptions {
  readonly seed: number;
  readonly warmup: number;
  readonly repeats: number;
  /** after each row: rows done, ms it took */
  readonly progress?: (done: number, ms: number) => void;
  /** run the CUDA columns on the CPU emulation (g++ against this shim, test/targets/cuda/emulate/cuda-host.h) */
  readonly cudaEmulate?: string;
  readonly cudaCacheDir?: string;
}

/** Checks and times every row in order; a kernel that fails to run becomes a failed row, not an abort. */
export async function runCompare(gpu: GpuContext, b: CompareBuild, o: RunCompareOptions): Promise<CompareReport> {
  const a = gpu.info.adapter;
  const peak = gpu.caps.isFallback ? undefined : cardPeak(a);
  const rows: KernelResult[] = [];
  // one runner for every row first: its outputs wait for the reference each WGSL check computes anyway
  const cuda = await runCudaRows(b.rows, {
    seed: o.seed, warmup: o.warmup, repeats: o.repeats,
    ...(o.cudaEmulate ? { emulate: o.cudaEmulate } : {}), ...(o.cudaCacheDir ? { cacheDir: o.cudaCacheDir } : {}),
  });
  for (const row of b.rows) {
    const t0 = performance.now();
    const check = { seed: o.seed, warmup: o.warmup, repeats: o.repeats, ...(peak ? { peak } : {}), cuda };
    rows.push(await checkKernel(gpu, row, check));
    o.progress?.(rows.length, performance.now() - t0);
  }
  return {
    model: b.model, quant: b.quant, method: b.method, adapter: a.description || a.device || a.vendor,
    softwareAdapter: gpu.caps.isFallback, ...(peak ? { peak } : {}), seed: o.seed, warmup: o.warmup,
    repeats: o.repeats, dispatches: b.program.steps.length, rows,
    cuda: typeof cuda === 'string' ? { unavailable: cuda } : { device: cuda.device, emulated: cuda.emulated },
  };
}
