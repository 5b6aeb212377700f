import type { Graph } from '../../../ir/graph.ts';
import { verify } from '../../../ir/verify.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../../passes/pipeline.ts';
import { builtinPasses } from '../../../passes/registry.ts';
import type { GpuContext } from '../../../runtime/device.ts';
import { WgslExecutor } from '../../../runtime/executor.ts';
import { runReference } from '../../../runtime/reference.ts';
import type { Tensor } from '../../../runtime/tensor.ts';
import type { Weights } from '../../weights/weights.ts';

/** A graph made runnable: by the CPU reference in tests, by the WGSL executor on a device. */
export interface GraphExec {
  run(inputs: Readonly<Record<string, Tensor>>): Promise<Tensor[]>;
  dispose(): void;
}

export type ExecFactory = (g: Graph) => Promise<GraphExec>;

export function cpuExec(weights: Weights): ExecFactory {
  return async (g) => ({ run: async (inputs) => runReference(g, inputs, weights), dispose: () => {} });
}

/** The graph lowered by the default pipeline (fusion keeps every output) and run in f32 on `gpu`. */
export function wgslExec(gpu: GpuContext, weights: Weights): ExecFactory {
  return async (g) => {
    const lowered = runPipeline(g, parsePipeline(DEFAULT_PIPELINE, new Map(builtinPasses())), { verify }).graph;
    const exec = await WgslExecutor.create(gpu, lowered, weights, { elem: 'f32' });
    return { run: async (inputs) => (await exec.run(inputs)).outputs, dispose: () => exec.dispose() };
  };
}
