import type { Graph } from '../../ir/graph.ts';
import { verify } from '../../ir/verify.ts';
import { parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { builtinPasses } from '../../passes/registry.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import { memoryMeter } from '../../runtime/memory.ts';
import { aggregateTimings, type KernelTiming } from '../../runtime/profile.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { kernelLowering } from '../../targets/wgsl/select.ts';
import { blockSelfAttentions, pruneTokens, withTensors } from '../../passes/prune-tokens.ts';
import { compilePipeline, lowerQuantized } from '../compile/quant-build.ts';
import type { Weights } from '../weights/weights.ts';
import { median } from './time-kernel.ts';

export const STEP_BUILDS = ['f32', 'f16', 'w4a8', 'w4a6'] as const;

/** One op kind's share of a profiled forward. */
export interface OpShare {
  readonly op: string;
  readonly count: number;
  readonly ms: number;
  readonly percent: number;
}

export interface StepResult {
  readonly build: string;
  readonly elem?: 'f32' | 'f16';
  readonly quant?: string;
  /** forced qgemm variant, or 'auto' (targets/wgsl/select.ts) */
  readonly qgemmVariant?: string;
  /** median over the timed forwards of the summed per-dispatch GPU time (timestamp queries) */
  readonly gpuMs?: number;
  /** median wall time of the same forwards (one compute pass per dispatch, uploads and readback included) */
  readonly wallMs?: number;
  readonly samplesGpuMs?: number[];
  /** high-water mark of live GPU buffer bytes from executor creation to its last run (runtime/memory.ts) */
  readonly peakBytes?: number;
  readonly paramBytes?: number;
  readonly tempBytes?: number;
  readonly dispatches?: number;
  readonly byOp?: OpShare[];
  readonly byKernel?: { name: string; count: number; ms: number; tops?: number }[];
  readonly skipped?: string;
  readonly error?: string;
}

export interface StepOptions {
  readonly warmup: number;
  readonly repeats: number;
  readonly qgemmVariant?: string;
  /** leading keys (text) a `@keep=F` / `@online=F` build always keeps, as `vdit compile --prune` does */
  readonly keepFirst?: number;
  readonly progress: (line: string) => void;
}

interface Build {
  readonly graph: Graph;
  readonly weights: Weights;
  readonly elem: 'f32' | 'f16';
  readonly quant?: string;
}

/**
 * `f16@keep=0.5`: the build with each block's self-attention pruned to that fraction of key tiles (64 keys) for
 * timing. Time depends on how many tiles are kept, not which, so no calibration store is read: every key scores the
 * same and the lowest tiles win ties (quality is measured on the tiny model with calibrated tiles instead).
 * `f16@online=0.5`: the same fraction chosen at run time (`tile_select` per query tile), its selection timed too.
 */
function pruned(build: string, graph: Graph, weights: Weights, keepFirst: number): { base: string; graph: Graph; weights: Weights } {
  const m = /^(.+)@(keep|online)=([\d.]+)$/.exec(build);
  if (!m) return { base: build, graph, weights };
  if (m[2] === 'online') {
    return { base: m[1]!, graph: pruneTokens(graph, { keep: Number(m[3]), keepFirst, online: true }).graph, weights };
  }
  const attentions = blockSelfAttentions(graph);
  const nk = [...attentions.values()][0]?.src[1]!.type.shape[2];
  if (nk === undefined) throw new Error(`${build}: the model has no block self-attention to prune`);
  const importance = new Map([...attentions.keys()].map((b) => [b, new Float32Array(nk).fill(1)] as const));
  const p = pruneTokens(graph, { keep: Number(m[3]), importance, keepFirst });
  return { base: m[1]!, graph: p.graph, weights: withTensors(weights, p.tensors) };
}

/** Graph, weights and storage type of a build, as `vdit compile` lowers it; quantized builds store FP tensors as f16 where the device can. */
function prepare(name: string, fp: Graph, fpWeights: Weights, gpu: GpuContext, keepFirst: number): Build {
  const { base: build, graph, weights } = pruned(name, fp, fpWeights, keepFirst);
  const quantized = build !== 'f32' && build !== 'f16';
  const elem = build === 'f32' || !gpu.caps.hasF16 ? 'f32' : 'f16';
  if (quantized) return { ...lowerQuantized(graph, weights, build), elem, quant: build };
  const pipeline = parsePipeline(compilePipeline('none'), new Map(builtinPasses()));
  return { graph: runPipeline(graph, pipeline, { verify }).graph, weights, elem };
}

/** One full denoiser forward per build: warm-up, then timed profiled forwards; a failing build becomes a row. */
export async function benchStep(
  gpu: GpuContext, graph: Graph, weights: Weights, inputs: Record<string, Tensor>, builds: readonly string[],
  o: StepOptions,
): Promise<StepResult[]> {
  const out: StepResult[] = [];
  for (const build of builds) {
    if (build.split('@')[0] === 'f16' && !gpu.caps.hasF16) {
      out.push({ build, skipped: 'no shader-f16' });
      continue;
    }
    try {
      out.push(await runBuild(gpu, build, graph, weights, inputs, o));
    } catch (e) {
      out.push({ build, error: (e as Error).message.split('\n').slice(0, 3).join(' | ') });
    }
    const r = out[out.length - 1]!;
    o.progress(`step ${build}: ${r.error ? `FAILED: ${r.error}` : `${r.gpuMs!.toFixed(2)} ms GPU, peak ${mib(r.peakBytes!)} MiB`}`);
  }
  return out;
}

async function runBuild(
  gpu: GpuContext, build: string, graph: Graph, weights: Weights, inputs: Record<string, Tensor>, o: StepOptions,
): Promise<StepResult> {
  const b = prepare(build, graph, weights, gpu, o.keepFirst ?? 0);
  const variant = b.quant && o.qgemmVariant ? { qgemm: o.qgemmVariant } : undefined;
  const meter = memoryMeter(gpu.device);
  meter.resetPeak();
  const before = meter.liveBytes;
  o.progress(`step ${build}: uploading weights and compiling kernels (${b.elem} storage)`);
  const exec = await WgslExecutor.create(gpu, b.graph, b.weights, {
    elem: b.elem, ...kernelLowering(variant),
  });
  try {
    for (let i = 0; i < o.warmup; i++) {
      o.progress(`step ${build}: warm-up ${i + 1}/${o.warmup}`);
      await exec.run(inputs);
    }
    const gpuMs: number[] = [];
    const wallMs: number[] = [];
    let last: KernelTiming[] = [];
    for (let i = 0; i < Math.max(1, o.repeats); i++) {
      o.progress(`step ${build}: timed forward ${i + 1}/${o.repeats}`);
      const t0 = performance.now();
      const r = await exec.run(inputs, { profile: true });
      wallMs.push(performance.now() - t0);
      if (!r.timings) throw new Error(`no GPU timings: ${r.timingsUnavailable ?? 'unknown reason'}`);
      last = r.timings;
      gpuMs.push(r.timings.reduce((a, t) => a + t.ns, 0) / 1e6);
    }
    const planned = exec.program.buffers;
    return {
      build, elem: b.elem, ...(b.quant ? { quant: b.quant, qgemmVariant: o.qgemmVariant ?? 'auto' } : {}),
      gpuMs: median(gpuMs), wallMs: median(wallMs), samplesGpuMs: gpuMs,
      peakBytes: meter.peakBytes - before,
      paramBytes: planned.filter((p) => p.kind !== 'temp').reduce((a, p) => a + p.bytes, 0),
      tempBytes: planned.filter((p) => p.kind === 'temp').reduce((a, p) => a + p.bytes, 0),
      dispatches: last.length, byOp: byOp(last), byKernel: byKernel(last),
    };
  } finally {
    exec.dispose();
  }
}

function byOp(timings: readonly KernelTiming[]): OpShare[] {
  const asOps = timings.map((t) => ({ ...t, name: t.node.split('#')[0]! }));
  return aggregateTimings(asOps).map((r) => ({ op: r.name, count: r.count, ms: r.totalMs, percent: r.percent }));
}

function byKernel(timings: readonly KernelTiming[]): NonNullable<StepResult['byKernel']> {
  return aggregateTimings(timings).map((r) => ({
    name: r.name, count: r.count, ms: r.totalMs, ...(r.gflops !== undefined ? { tops: r.gflops / 1000 } : {}),
  }));
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
