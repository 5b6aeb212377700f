import { graph } from '../../ir/graph.ts';
import { node, replace, type Node } from '../../ir/node.ts';
import { isFloat } from '../../ir/dtype.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { runReference } from '../../runtime/reference.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { Weights } from '../weights/weights.ts';
import type { CardPeak } from '../bench/peaks.ts';
import { timeKernel } from '../bench/time-kernel.ts';
import { cudaColumn, rowSeed, type CudaColumn, type CudaRun } from './cuda-column.ts';
import { errorStats, type ErrorStats } from './error-stats.ts';
import type { KernelRow } from './kernel-rows.ts';
import { kernelOperands } from './operands.ts';
import { EXACT, toleranceFor, type Tolerance } from './tolerance.ts';

/** One row of `vdit compare`: the WGSL kernel on Dawn against the CPU reference, and its time. */
export interface KernelResult extends Partial<ErrorStats> {
  readonly index: number;
  readonly name: string;
  readonly op: string;
  readonly shape: string;
  readonly count: number;
  readonly tolerance: Tolerance;
  /**
   * integer kernels: the integer result equal element for element (quantize's i8 values; qgemm's i32 sum, run a
   * second time with Δx = Δw = 1 and integer epilogue operands); absent for float kernels and GELU epilogues
   */
  readonly intExact?: boolean;
  /** median device time of one dispatch, ms */
  readonly ms?: number;
  readonly clock?: 'gpu-timestamp' | 'wall';
  /** operations of one dispatch (KernelSpec.flops), integer for qgemm */
  readonly ops?: number;
  readonly opKind: 'int' | 'float';
  /** tera-operations per second: TOP/s for qgemm, TFLOP/s otherwise */
  readonly tops?: number;
  /** of the card's dense INT8 (qgemm) or BF16/F16 peak; absent for cards not in compiler/bench/peaks.ts */
  readonly pctPeak?: number;
  readonly cuda: CudaColumn;
  /** the kernel could not be run (compile or dispatch error): a failed row */
  readonly error?: string;
}

export interface CheckOptions {
  readonly seed: number;
  readonly warmup: number;
  readonly repeats: number;
  readonly peak?: CardPeak;
  /** the CUDA runner's results for all rows (cuda-column.ts runCudaRows), or why there are none */
  readonly cuda?: CudaRun | string;
}

const NO_WEIGHTS: Weights = { get: () => undefined, names: () => [] };

/** The node over fresh `input` leaves x0, x1, … (one per operand position, aliases split) and its CPU result. */
export function referenceOf(n: Node, operands: readonly Tensor[]): Tensor {
  const leaves = operands.map((t, i) => node('input', [], { name: `x${i}` }, t.type));
  const alone = replace(n, { src: leaves });
  const inputs = Object.fromEntries(operands.map((t, i) => [`x${i}`, t]));
  return runReference(graph(`${n.op}#${n.id}`, leaves, [alone]), inputs, NO_WEIGHTS)[0]!;
}

/** Runs the row's kernel exactly as compiled (same source, dispatch, uniforms) on seeded operands, then times it. */
export async function checkKernel(gpu: GpuContext, row: KernelRow, o: CheckOptions): Promise<KernelResult> {
  const tolerance = toleranceFor(row.node);
  const opKind = row.op === 'qgemm' ? 'int' : 'float';
  const base = {
    index: row.index, name: row.name, op: row.op, shape: row.shape, count: row.count, tolerance, opKind,
    cuda: cudaColumn(row, o.cuda, undefined, tolerance),
  } as const;
  let want: Tensor | undefined;
  // the CUDA column reads the same reference; it is filled even when the WGSL kernel fails
  const withCuda = (r: KernelResult): KernelResult => ({ ...r, cuda: cudaColumn(row, o.cuda, want, tolerance, o.peak) });
  try {
    const seed = rowSeed(o.seed, row);
    const operands = kernelOperands(row.node, seed);
    want = referenceOf(row.node, operands);
    const t = await timeKernel(gpu, row.spec, operands, row.node.type, {
      warmup: o.warmup, repeats: o.repeats, elem: 'f32', readOutput: true,
    });
    const stats = errorStats(t.output!, want, tolerance);
    const intExact = await integerExact(gpu, row, seed, stats);
    const ops = row.spec.flops;
    const tops = ops !== undefined && ops > 0 && t.medianMs > 0 ? ops / (t.medianMs * 1e9) : undefined;
    const peak = o.peak && (opKind === 'int' ? o.peak.int8Tops : o.peak.bf16Tflops);
    return withCuda({
      ...base, ...stats, ...(intExact !== undefined ? { intExact } : {}), ms: t.medianMs, clock: t.clock,
      ...(ops !== undefined ? { ops } : {}), ...(tops !== undefined ? { tops } : {}),
      ...(tops !== undefined && peak ? { pctPeak: (100 * tops) / peak } : {}),
    });
  } catch (e) {
    return withCuda({ ...base, ok: false, error: (e as Error).message.split('\n')[0]! });
  }
}

/** Integer outputs are exact by the main check; qgemm's integer sum needs unit scales to be seen exactly. */
async function integerExact(
  gpu: GpuContext, row: KernelRow, seed: number, main: ErrorStats,
): Promise<boolean | undefined> {
  if (!isFloat(row.node.type.dtype)) return main.violations === 0;
  const act = row.node.attrs['act'];
  if (row.op !== 'qgemm' || (act !== undefined && act !== 'none')) return undefined;
  const operands = kernelOperands(row.node, seed + 1, { unit: true });
  const want = referenceOf(row.node, operands);
  const once = { warmup: 0, repeats: 1, elem: 'f32', readOutput: true } as const;
  const t = await timeKernel(gpu, row.spec, operands, row.node.type, once);
  return errorStats(t.output!, want, EXACT).ok;
}
