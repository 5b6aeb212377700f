import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toposort, type Graph } from '../../ir/graph.ts';
import { CUDA_HEADER, CUDA_HEADER_FILE } from '../../targets/cuda/header.ts';
import type { CudaKernel } from '../../targets/cuda/kernel.ts';
import { emitCudaRunner } from '../../targets/cuda/runner.ts';
import { CUDA_NO_KERNEL, lowerCudaNode } from '../../targets/cuda/select.ts';
import { DEFAULT_CAPS, type LowerContext } from '../../targets/target.ts';

/**
 * `vdit compile --target cuda`: CUDA C++ for every kernel of the lowered graph, written to `cuda/` inside the
 * executable folder *beside* the WGSL build (weights.bin and manifest.json stay the WebGPU ones, whose buffer
 * layout the CUDA kernels share), so one folder serves both runtimes. `cuda/kernels.json` lists each launch in
 * forward order; `runner.cu` + `runner.json` run the whole graph (runtime/cuda-process.ts).
 */
export const CUDA_DIR = 'cuda';
export const CUDA_INDEX = 'kernels.json';
export const CUDA_RUNNER_SOURCE = 'runner.cu';
export const CUDA_RUNNER_SPEC = 'runner.json';

/**
 * One launch of a forward: the kernel, and its result and operands as positions in the lowered graph's toposort
 * (stable across processes, unlike node ids). Mapping them to manifest.json buffers is the CUDA runtime's job.
 */
export interface CudaStep {
  readonly entry: string;
  readonly op: string;
  readonly node: number;
  readonly operands: readonly number[];
  /**
   * this launch's grid: one source may serve nodes of different sizes (a norm's rows are its grid, not its code),
   * so the grid of the kernel's first use is not every use's
   */
  readonly grid: readonly [number, number, number];
}

export interface CudaEmission {
  /** distinct kernels, first use first */
  readonly kernels: readonly CudaKernel[];
  readonly steps: readonly CudaStep[];
}

/** Lowers every node that needs a kernel; the same source (same entry) is emitted once. `variant`: forced kernels. */
export function emitCuda(graph: Graph, elem: 'f32' | 'f16' = 'f32', variant?: LowerContext['variant']): CudaEmission {
  const kernels = new Map<string, CudaKernel>();
  const steps: CudaStep[] = [];
  const order = toposort(graph);
  const pos = new Map(order.map((n, i) => [n, i]));
  for (const n of order) {
    if (CUDA_NO_KERNEL.has(n.op)) continue;
    const k = lowerCudaNode(n, { elem, caps: DEFAULT_CAPS, ...(variant ? { variant } : {}) });
    if (!kernels.has(k.entry)) kernels.set(k.entry, k);
    steps.push({ entry: k.entry, op: n.op, node: pos.get(n)!, operands: n.src.map((s) => pos.get(s)!), grid: k.grid });
  }
  return { kernels: [...kernels.values()], steps };
}

/** The files of `cuda/`: the shared header, one .cu per kernel, and the launch index. */
export function cudaFiles(e: CudaEmission): Map<string, string> {
  const files = new Map<string, string>([[CUDA_HEADER_FILE, CUDA_HEADER]]);
  for (const k of e.kernels) files.set(`${k.entry}.cu`, k.source);
  const index = {
    kernels: e.kernels.map((k) => ({
      name: k.name, entry: k.entry, file: `${k.entry}.cu`, grid: k.grid, block: k.block, params: k.params,
      ...(k.flops !== undefined ? { flops: k.flops } : {}),
    })),
    steps: e.steps,
  };
  files.set(CUDA_INDEX, `${JSON.stringify(index, null, 1)}\n`);
  return files;
}

/**
 * Writes `<outDir>/cuda/*`, plus the whole-graph runner (targets/cuda/runner.ts) that `run.js --backend cuda`
 * builds and drives; returns the number of distinct kernels.
 */
export function writeCuda(graph: Graph, outDir: string): number {
  const e = emitCuda(graph);
  const dir = join(outDir, CUDA_DIR);
  mkdirSync(dir, { recursive: true });
  const runner = emitCudaRunner(graph, e);
  const files = cudaFiles(e);
  files.set(CUDA_RUNNER_SOURCE, runner.source);
  files.set(CUDA_RUNNER_SPEC, `${JSON.stringify(runner.spec, null, 1)}\n`);
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return e.kernels.length;
}
