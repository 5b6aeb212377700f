import type { Argv } from 'yargs';
import { verify } from '../../ir/verify.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { formatBufferPlan, type CudaBufferPlan } from '../../runtime/cuda-process.ts';
import { CudaRunner } from '../../runtime/cuda-runner.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import { formatProfile, type KernelTiming } from '../../runtime/profile.ts';
import { runReference } from '../../runtime/reference.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { seededInputs } from '../inputs.ts';
import { loadModel } from '../models.ts';
import { checkCompileOptions, COMPILE_QUANTS, lowerQuantized } from '../compile/quant-build.ts';
import { compareTensors, tensorStats, type TensorStats } from '../tensor-stats.ts';
import { parsePrune, pruneFromStore } from './compile-calibration.ts';
import { kernelLowering, parseKernelChoice } from '../../targets/wgsl/select.ts';
import { emit, fmt, KERNEL_OPTION, table, type GlobalArgs, WEIGHTS_OPTION } from './output.ts';

interface RunArgs extends GlobalArgs {
  model: string;
  seed: number;
  backend: 'cpu' | 'wgsl' | 'cuda';
  dtype: 'f32' | 'f16';
  check: boolean;
  profile: boolean;
  repeat: number;
  weights?: string;
  kernel?: string;
  passes: string;
  quant?: string;
  prune?: string;
  calibStore?: string;
}

/** The graph a run executes: the preset's, or its quantized build (already lowered: the pass pipeline is skipped). */
interface RunModel {
  readonly name: string;
  readonly graph: Parameters<typeof runReference>[0];
  readonly weights: Parameters<typeof runReference>[2];
  readonly lowered: boolean;
}

export const runCommand = {
  command: 'run <model>',
  describe: 'run one denoiser forward on seeded inputs and print output statistics and the time',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', describe: 'preset name or IR text file' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random inputs' })
      .option('backend', { choices: ['cpu', 'wgsl', 'cuda'] as const, default: 'wgsl' as const, describe: 'cuda: needs nvcc and an NVIDIA GPU' })
      .option('dtype', { choices: ['f32', 'f16'] as const, default: 'f32' as const, describe: 'WGSL storage type (cuda: f32 only)' })
      .option('check', { type: 'boolean', default: false, describe: 'compare with the CPU reference interpreter' })
      .option('profile', { type: 'boolean', default: false, describe: 'per-kernel GPU time table (timestamp queries; cuda: events)' })
      .option('repeat', { type: 'number', default: 1, describe: 'timed repeats after one warm-up run (median)' })
      .option('weights', WEIGHTS_OPTION)
      .option('kernel', KERNEL_OPTION)
      .option('passes', { type: 'string', default: DEFAULT_PIPELINE, describe: 'pass pipeline before lowering' })
      .option('quant', { type: 'string', describe: `the quantized build of \`vdit compile\` (RTN): ${COMPILE_QUANTS.join('|')}` })
      .option('prune', { type: 'string', describe: 'attention K/V tile pruning as `vdit compile --prune` (keep=F,select=online needs no store)' })
      .option('calib-store', { type: 'string', describe: 'calibration store whose attention importance ranks the tiles of a static --prune' }),
  handler: async (args: RunArgs) => {
    const loaded = loadModel(args.model, args.weights ? { weights: args.weights } : {});
    const quant = args.quant !== undefined && args.quant !== 'none' ? checkCompileOptions(args.quant, 'rtn') : undefined;
    const prune = args.prune !== undefined ? pruneFromStore(parsePrune(args.prune), args.calibStore, loaded) : undefined;
    // a quantized or pruned model is the build `vdit compile` would write (lowered here, so --passes does not apply)
    const q = quant !== undefined || prune ? lowerQuantized(loaded.graph, loaded.weights, quant ?? 'none', [], 'rtn', prune ? { prune } : {})
      : undefined;
    const model: RunModel = q ? { name: loaded.name, graph: q.graph, weights: q.weights, lowered: true }
      : { name: loaded.name, graph: loaded.graph, weights: loaded.weights, lowered: false };
    const inputs = seededInputs(model.graph, args.seed);
    const run = args.backend === 'cpu' ? await runCpu(model.graph, inputs, model.weights)
      : args.backend === 'cuda' ? await runCuda(args, model, inputs) : await runWgsl(args, model, inputs);
    let check: ReturnType<typeof compareTensors> | undefined;
    if (args.check) {
      const ref = args.backend === 'cpu' ? run.outputs : runReference(model.graph, inputs, model.weights);
      check = worst(run.outputs.map((o, i) => compareTensors(o, ref[i]!)));
    }
    const stats = run.outputs.map(tensorStats);
    const result = {
      model: model.name,
      backend: args.backend,
      dtype: args.backend === 'cpu' ? 'f32' : args.dtype,
      seed: args.seed,
      weights: loaded.weightsFrom,
      ...(quant ? { quant: args.quant } : {}),
      ...(q?.pruned ? { pruning: q.pruned.map((b) => ({ block: b.block, keptFraction: b.keptFraction })) } : {}),
      timeMs: run.timeMs,
      ...(run.device ? { device: run.device } : {}),
      ...(run.buffers ? { buffers: run.buffers } : {}),
      outputs: stats,
      ...(check ? { maxRelError: check.maxRelError, maxAbsError: check.maxAbsError } : {}),
      ...(run.timings ? { kernels: run.timings } : {}),
    };
    emit(args, result, () => formatRun(result, stats, run.timings));
  },
};

interface RunOutcome {
  outputs: Tensor[];
  timeMs: number;
  device?: string;
  /** cuda: the runner's device memory plan */
  buffers?: CudaBufferPlan;
  timings?: KernelTiming[];
}

async function runCpu(g: Parameters<typeof runReference>[0], inputs: Record<string, Tensor>, w: Parameters<typeof runReference>[2]): Promise<RunOutcome> {
  const t0 = performance.now();
  const outputs = runReference(g, inputs, w);
  return { outputs, timeMs: performance.now() - t0 };
}

function lowered(args: RunArgs, model: RunModel): RunModel['graph'] {
  return model.lowered ? model.graph : runPipeline(model.graph, parsePipeline(args.passes, new Map(builtinPasses())), { verify }).graph;
}

async function runWgsl(args: RunArgs, model: RunModel, inputs: Record<string, Tensor>): Promise<RunOutcome> {
  const g = lowered(args, model);
  const gpu = await openDevice();
  try {
    const kernels = args.kernel !== undefined ? parseKernelChoice(args.kernel) : undefined;
    const exec = await WgslExecutor.create(gpu, g, model.weights, { elem: args.dtype, ...kernelLowering(kernels) });
    let last = await exec.run(inputs); // warm-up: pipeline compilation and first-use clears stay out of the time
    const times: number[] = [];
    for (let i = 0; i < Math.max(1, args.repeat); i++) {
      const t0 = performance.now();
      last = await exec.run(inputs);
      times.push(performance.now() - t0);
    }
    const timings = args.profile ? (await exec.run(inputs, { profile: true })).timings : undefined;
    exec.dispose();
    times.sort((a, b) => a - b);
    const device = gpu.info.adapter.description || gpu.info.adapter.device || gpu.info.adapter.vendor;
    return { outputs: last.outputs, timeMs: times[times.length >> 1]!, device, ...(timings ? { timings } : {}) };
  } finally {
    closeDevice(gpu);
  }
}

// the same lowered graph as wgsl; the runner times with CUDA events (one warm-up, `repeat` timed forwards)
async function runCuda(args: RunArgs, model: RunModel, inputs: Record<string, Tensor>): Promise<RunOutcome> {
  if (args.kernel !== undefined) throw new Error('--kernel picks WGSL variants: not with --backend cuda');
  const g = lowered(args, model);
  const runner = await CudaRunner.open(g, model.weights, { dtype: args.dtype });
  try {
    const outputs = await runner.forward(inputs);
    const { forwardMs, timings } = await runner.time(inputs, 1, Math.max(1, args.repeat));
    return { outputs, timeMs: forwardMs, device: runner.device, ...(runner.spec.buffers ? { buffers: runner.spec.buffers } : {}),
      ...(args.profile ? { timings } : {}) };
  } finally {
    runner.close();
  }
}

function worst(cs: ReturnType<typeof compareTensors>[]): ReturnType<typeof compareTensors> {
  return cs.reduce((a, b) => (b.maxRelError > a.maxRelError ? b : a));
}

interface RunSummary {
  model: string; backend: string; dtype: string; timeMs: number; device?: string; buffers?: CudaBufferPlan;
  maxRelError?: number; maxAbsError?: number; pruning?: readonly { block: number; keptFraction: number }[];
}

function formatRun(r: RunSummary, stats: TensorStats[], timings?: KernelTiming[]): string {
  const rows = [['output', 'shape', 'mean', 'std', 'min', 'max', 'non-finite']];
  stats.forEach((s, i) => rows.push([`#${i}`, `[${s.shape.join(',')}]`, fmt(s.mean), fmt(s.std), fmt(s.min), fmt(s.max), String(s.nonFinite)]));
  const lines = [
    `${r.model} on ${r.backend}${r.device ? ` (${r.device})` : ''}, ${r.dtype}: ${fmt(r.timeMs, 3)} ms per forward`,
    ...(r.buffers ? [`device memory: ${formatBufferPlan(r.buffers)}`] : []),
    ...(r.pruning?.length ? [`pruned self-attention K/V: ${r.pruning.length} blocks, mean kept fraction ` +
      fmt(r.pruning.reduce((a, b) => a + b.keptFraction, 0) / r.pruning.length, 3)] : []),
    table(rows),
  ];
  if (r.maxRelError !== undefined) {
    lines.push(`check vs CPU reference: maxRelError ${fmt(r.maxRelError)}  maxAbsError ${fmt(r.maxAbsError!)}`);
  }
  if (timings) lines.push(formatProfile(timings));
  return lines.join('\n');
}
