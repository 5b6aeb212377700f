import { graph, toposort } from '../../ir/graph.ts';
import { node, replace, type Node } from '../../ir/node.ts';
import { cudaUnavailable } from '../../runtime/cuda-build.ts';
import { CudaRunner } from '../../runtime/cuda-runner.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { MMA_ATTENTION_KERNELS } from '../../targets/cuda/kernels/attention-mma.ts';
import { lowerCudaNode } from '../../targets/cuda/select.ts';
import { DEFAULT_CAPS } from '../../targets/target.ts';
import type { CudaKernel } from '../../targets/cuda/kernel.ts';
import type { CardPeak } from '../bench/peaks.ts';
import type { Weights } from '../weights/weights.ts';
import { errorStats } from './error-stats.ts';
import type { KernelRow } from './kernel-rows.ts';
import { kernelOperands } from './operands.ts';
import { f16AttentionTolerance, type Tolerance } from './tolerance.ts';

/** What the CUDA columns say where the kernels cannot run (the reason follows). */
export const NEEDS_CUDA = 'needs CUDA runtime (GPU + nvcc)';

/** The CUDA side of a row: the kernel `vdit compile --target cuda` emits for the node, run through the runner. */
export interface CudaColumn {
  /** extern "C" entry of the emitted kernel; absent when the op has no CUDA kernel */
  readonly entry?: string;
  /** against the same CPU reference and tolerance as the WGSL column; null when not run */
  readonly maxAbsError: number | null;
  /** median CUDA-event time of one launch; null when not run */
  readonly ms: number | null;
  /** within tolerance; absent when not run */
  readonly ok?: boolean;
  /** the bound this column is held to where it is not the WGSL column's (f16-input tensor-core attention) */
  readonly tolerance?: Tolerance;
  readonly tops?: number;
  readonly pctPeak?: number;
  /** 'ok' / 'OFF (n/N)' when run, else why not */
  readonly status: string;
}

/** The CUDA kernel of node, as emit-cuda.ts lowers it (f32, default caps), or the reason there is none. */
export function cudaKernel(n: Node): CudaKernel | string {
  try {
    return lowerCudaNode(n, { elem: 'f32', caps: DEFAULT_CAPS });
  } catch (e) {
    return (e as Error).message;
  }
}

/** One runner's results for the rows it ran, by row index; or why nothing ran. */
export interface CudaRun {
  readonly device: string;
  readonly outputs: Map<number, Tensor>;
  readonly ms: Map<number, number>;
  readonly emulated: boolean;
}

export interface CudaRunOptions {
  readonly seed: number;
  readonly warmup: number;
  readonly repeats: number;
  /** the CPU emulation shim (test/targets/cuda/emulate/cuda-host.h): g++ instead of nvcc and a GPU */
  readonly emulate?: string;
  readonly cacheDir?: string;
}

/** The operand seed of a row: the WGSL column's, so both run on the same values (check-kernel.ts). */
export const rowSeed = (seed: number, row: Pick<KernelRow, 'index'>): number => seed + 1009 * row.index;

/**
 * Every row with a CUDA kernel as one node of one graph, its operands params `r<index>.x<j>` (uploaded once, drawn
 * lazily as kernelOperands draws them for the WGSL column), so one runner.cu (one nvcc build) and one process check
 * and time them all: one forward for the results, the runner's `time` for each launch's median.
 */
export async function runCudaRows(rows: readonly KernelRow[], o: CudaRunOptions): Promise<CudaRun | string> {
  const why = o.emulate ? undefined : cudaUnavailable();
  if (why) return why;
  const runnable = rows.filter((r) => typeof cudaKernel(r.node) !== 'string');
  if (!runnable.length) return 'no row has a CUDA kernel';
  const nodes = runnable.map((r) => replace(r.node, {
    src: r.node.src.map((s, j) => node('param', [], { name: `r${r.index}.x${j}` }, s.type)),
  }));
  const g = graph('compare', [], nodes);
  let cached: { index: number; operands: Tensor[] } | undefined;
  const weights: Weights = {
    names: () => runnable.flatMap((r) => r.node.src.map((_, j) => `r${r.index}.x${j}`)),
    get: (name) => {
      const m = /^r(\d+)\.x(\d+)$/.exec(name);
      const row = m ? runnable.find((r) => r.index === Number(m[1])) : undefined;
      if (!m || !row) return undefined;
      if (cached?.index !== row.index) cached = { index: row.index, operands: kernelOperands(row.node, rowSeed(o.seed, row)) };
      return cached.operands[Number(m[2])];
    },
  };
  let runner: CudaRunner | undefined;
  try {
    runner = await CudaRunner.open(g, weights, {
      ...(o.emulate ? { emulate: o.emulate } : {}), ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    });
    const outs = await runner.forward({});
    const t = await runner.time({}, o.warmup, o.repeats);
    const pos = new Map(toposort(g).map((n, i) => [n, i]));
    const stepOf = new Map(runner.spec.steps.map((s, i) => [s.node, i]));
    const ms = new Map(runnable.map((r, i) => [r.index, t.timings[stepOf.get(`${nodes[i]!.op}#${pos.get(nodes[i]!)}`)!]!.ns / 1e6]));
    return { device: runner.device, outputs: new Map(runnable.map((r, i) => [r.index, outs[i]!])), ms,
      emulated: o.emulate !== undefined };
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  } finally {
    runner?.close();
  }
}

/** The row's CUDA column from the run: its output against `want` (the WGSL column's reference), time and rate. */
export function cudaColumn(
  row: KernelRow, run: CudaRun | string | undefined, want: Tensor | undefined, tol: Tolerance, peak?: CardPeak,
): CudaColumn {
  const k = cudaKernel(row.node);
  if (typeof k === 'string') return { maxAbsError: null, ms: null, status: k };
  // the tensor-core attention rounds its inputs to f16: held to the bound that rounding allows
  const own = MMA_ATTENTION_KERNELS.has(k.name) ? { tolerance: f16AttentionTolerance(row.node) } : {};
  const off = (status: string): CudaColumn => ({ entry: k.entry, maxAbsError: null, ms: null, status, ...own });
  if (run === undefined) return off(NEEDS_CUDA);
  if (typeof run === 'string') return off(`${NEEDS_CUDA}: ${run}`);
  const got = run.outputs.get(row.index);
  const ms = run.ms.get(row.index);
  if (!got || ms === undefined || !want) return off('not run');
  run.outputs.delete(row.index);  // each output is compared once: free it
  const stats = errorStats(got, want, own.tolerance ?? tol);
  const tops = k.flops !== undefined && k.flops > 0 && ms > 0 ? k.flops / (ms * 1e9) : undefined;
  const p = !run.emulated && peak ? (row.op === 'qgemm' ? peak.int8Tops : peak.bf16Tflops) : undefined;
  return {
    entry: k.entry, maxAbsError: stats.maxAbsError, ms, ok: stats.ok, ...own,
    ...(tops !== undefined ? { tops } : {}), ...(tops !== undefined && p ? { pctPeak: (100 * tops) / p } : {}),
    status: stats.ok ? 'ok' : `OFF (${stats.violations}/${stats.elements})`,
  };
}
