import { verify } from '../../ir/verify.ts';
import type { Graph } from '../../ir/graph.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { pruneTokens, withTensors, type PruneTokensOptions } from '../../passes/prune-tokens.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import { kernelLowering, type KernelChoice } from '../../targets/wgsl/select.ts';
import { CudaRunner } from '../../runtime/cuda-runner.ts';
import { clipsPerForward, cpuDenoiser, cudaDenoiser, wgslDenoiser, type Denoiser } from '../../runtime/sampler.ts';
import { NULL_CLASS } from '../data/classes.ts';
import { lowerQuantized } from '../compile/quant-build.ts';
import { buildDiT } from '../model/dit.ts';
import type { LoadedModel } from '../models.ts';
import type { ClipShape } from '../video/frames.ts';

export type Backend = 'cpu' | 'wgsl' | 'cuda';

export interface SessionOptions {
  readonly backend: Backend;
  /** WGSL storage type (cuda: f32 only) */
  readonly dtype: 'f32' | 'f16';
  /** clips per forward (K, batch 2K); presets are rebuilt for it, an IR file must already have batch 2K */
  readonly clips?: number;
  /** run the quantized build of `vdit compile` (RTN weights, qgemm) instead of the FP graph */
  readonly quant?: QuantRequest;
  /** forced WGSL kernel variants by op (`--kernel qgemm=dp4a`); unset ops choose by device capabilities */
  readonly kernels?: KernelChoice;
  /** attention K/V tile pruning (passes/prune-tokens.ts), applied to the (quantized) graph before lowering */
  readonly prune?: PruneTokensOptions;
}

/** A quantized build as the CLI names it: checked by compiler/compile/quant-build.ts checkCompileOptions. */
export interface QuantRequest {
  /** base setting, e.g. 'w4a6' */
  readonly setting: string;
  readonly keepFp: readonly string[];
  /** quantization method (compiler/quant/method-transform.ts); default 'rtn' */
  readonly method?: string;
}

/** A denoiser ready to sample with: the model on one backend, built for K clips per forward. */
export interface DenoiserSession {
  readonly denoise: Denoiser;
  readonly clipsPerForward: number;
  readonly clipShape: ClipShape;
  readonly nullClass: number;
  /** adapter description (wgsl), device name (cuda) */
  readonly device?: string;
  close(): void;
}

export async function openDenoiser(model: LoadedModel, opts: SessionOptions): Promise<DenoiserSession> {
  const fp = batchedGraph(model, opts.clips);
  const k = clipsPerForward(fp);
  // the quantized build is lowered already (qgemm, fused elementwise); both backends run that same graph
  const q = opts.quant;
  // a quantized build prunes inside lowerQuantized, before its lowering fuses the attention blocks out of reach
  const built = q ? lowerQuantized(fp, model.weights, q.setting, q.keepFp, q.method, opts.prune ? { prune: opts.prune } : {})
    : { graph: fp, weights: model.weights };
  const pruned = opts.prune && !q ? pruneTokens(fp, opts.prune) : undefined;
  const report = 'pruned' in built ? built.pruned : pruned?.report;
  if (opts.prune && !report?.length) throw new Error(`prune: ${model.name} has no block self-attention to prune`);
  const [graph, weights] = pruned ? [pruned.graph, withTensors(built.weights, pruned.tensors)]
    : [built.graph, built.weights];
  const [, t, h, w, c] = graph.inputs.find((n) => n.attrs['name'] === 'x')!.type.shape;
  const clipShape = [t!, h!, w!, c!] as const;
  const nullClass = model.config?.classes !== undefined ? model.config.classes - 1 : NULL_CLASS;
  if (opts.backend === 'cpu') {
    const denoise = cpuDenoiser({ graph, weights });
    return { denoise, clipsPerForward: k, clipShape, nullClass, close: () => undefined };
  }
  // the quantized build is lowered already; the FP one (pruned or not) takes the default pipeline here
  const lowered = q ? graph : runPipeline(graph, parsePipeline(DEFAULT_PIPELINE, new Map(builtinPasses())), { verify }).graph;
  if (opts.backend === 'cuda') {
    if (opts.kernels && Object.keys(opts.kernels).length) throw new Error('--kernel picks WGSL variants: not with --backend cuda');
    const runner = await CudaRunner.open(lowered, weights, { dtype: opts.dtype });
    return {
      denoise: cudaDenoiser(runner), clipsPerForward: k, clipShape, nullClass, device: runner.device,
      close: () => runner.close(),
    };
  }
  const gpu = await openDevice();
  try {
    const exec = await WgslExecutor.create(gpu, lowered, weights, { elem: opts.dtype, ...kernelLowering(opts.kernels) });
    const device = gpu.info.adapter.description || gpu.info.adapter.device || gpu.info.adapter.vendor;
    const close = (): void => {
      exec.dispose();
      closeDevice(gpu);
    };
    return { denoise: wgslDenoiser(exec), clipsPerForward: k, clipShape, nullClass, device, close };
  } catch (e) {
    closeDevice(gpu);
    throw e;
  }
}

function batchedGraph(model: LoadedModel, clips: number | undefined): Graph {
  if (clips !== undefined && !(Number.isInteger(clips) && clips >= 1)) {
    throw new Error(`clips per forward must be a positive integer, got ${clips}`);
  }
  if (model.config) {
    if (model.config.classes === undefined) throw new Error(`model '${model.name}' is not class-conditioned`);
    return buildDiT({ ...model.config, batch: 2 * (clips ?? 1) });
  }
  const k = clipsPerForward(model.graph);
  if (clips !== undefined && clips !== k) {
    throw new Error(`model '${model.name}' is an IR file built for ${k} clip(s) per forward (batch ${2 * k}); ` +
      `--batch ${clips} needs a preset, which can be rebuilt at any batch`);
  }
  return model.graph;
}
