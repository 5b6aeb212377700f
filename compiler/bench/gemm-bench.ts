import type { GpuContext } from '../../runtime/device.ts';
import { runReference } from '../../runtime/reference.ts';
import { graph } from '../../ir/graph.ts';
import type { Weights } from '../weights/weights.ts';
import type { LowerContext } from '../../targets/target.ts';
import { sgmatSupport } from '../../targets/wgsl/kernels/qgemm-sgmat.ts';
import { lowerNode } from '../../targets/wgsl/select.ts';
import { linearCase, qgemmCase, type GemmCase } from './gemm-cases.ts';
import { gemmOps, shapeName, type GemmShape } from './gemm-shapes.ts';
import type { CardPeak } from './peaks.ts';
import { timeKernel, type TimeOptions } from './time-kernel.ts';

/** Every forceable qgemm kernel of targets/wgsl/select.ts, fastest-hoped first. */
export const QGEMM_VARIANTS = ['sgmat', 'dp4a', 'tiled_soft', 'direct_dp4a', 'direct'] as const;
export type QgemmVariantName = (typeof QGEMM_VARIANTS)[number];
export const FP_BUILDS = ['f16', 'f32'] as const;

/** One timed (or skipped, or failed) GEMM: a qgemm variant under one quant setting, or an FP build. */
export interface GemmResult {
  readonly shape: string;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly count: number;
  /** 'w4a8' | 'w4a6' for qgemm rows, 'f16' | 'f32' for the FP linear */
  readonly build: string;
  /** qgemm variant, or the FP linear's variant as chosen by caps */
  readonly variant: string;
  readonly kernel?: string;
  readonly medianMs?: number;
  readonly samplesMs?: number[];
  /** tera-ops (integer) or TFLOP/s (float) */
  readonly tops?: number;
  readonly pctInt8Peak?: number;
  readonly pctBf16Peak?: number;
  readonly skipped?: string;
  readonly error?: string;
}

export interface ExactnessResult {
  readonly variant: string;
  readonly shape: string;
  readonly exact?: boolean;
  readonly mismatches?: number;
  readonly skipped?: string;
  readonly error?: string;
}

const ABITS: Readonly<Record<string, number>> = { w4a8: 8, w4a6: 6, w8a8: 8, w4a4: 4 };
// odd M and N, K not a multiple of 32: every kernel's edge handling is exercised
const EXACT_SHAPE = { m: 37, k: 200, n: 45, wDtype: 'i4' } as const;
const NO_WEIGHTS: Weights = { get: () => undefined, names: () => [] };

/** Why this adapter cannot run a variant, or undefined when it can. */
export function variantUnavailable(v: string, gpu: GpuContext): string | undefined {
  if (v === 'sgmat') {
    const s = sgmatSupport(gpu.caps);
    return s.ok ? undefined : s.why;
  }
  if ((v === 'dp4a' || v === 'direct_dp4a') && !gpu.caps.wgslFeatures.has('packed_4x8_integer_dot_product')) {
    return 'no packed_4x8_integer_dot_product WGSL language feature';
  }
  return undefined;
}

export function abitsOf(quant: string): number {
  const a = ABITS[quant];
  if (a === undefined) throw new Error(`--quant '${quant}' is not one of ${Object.keys(ABITS).join(', ')}`);
  return a;
}

/** The variant's result on a small shape with unit scales vs the CPU reference, element for element. */
export async function checkExactness(gpu: GpuContext, variant: string): Promise<ExactnessResult> {
  const base = { variant, shape: shapeName(EXACT_SHAPE) };
  const why = variantUnavailable(variant, gpu);
  if (why) return { ...base, skipped: why };
  try {
    const c = qgemmCase(EXACT_SHAPE, { abits: 8, seed: 9001, unit: true });
    const spec = lowerNode(c.node, { elem: 'f32', caps: gpu.caps, variant: { qgemm: variant } });
    const got = await timeKernel(gpu, spec, c.operands, c.node.type, { warmup: 0, repeats: 1, elem: 'f32', readOutput: true });
    const inputs = Object.fromEntries(c.node.src.map((s, i) => [s.attrs['name'] as string, c.operands[i]!]));
    const want = runReference(graph('exact', [...c.node.src], [c.node]), inputs, NO_WEIGHTS)[0]!;
    let mismatches = 0;
    for (let i = 0; i < want.data.length; i++) if (got.output!.data[i] !== want.data[i]) mismatches++;
    return { ...base, exact: mismatches === 0, mismatches };
  } catch (e) {
    return { ...base, error: (e as Error).message.split('\n')[0]! };
  }
}

export interface GemmBenchOptions {
  readonly quants: readonly string[];
  readonly warmup: number;
  readonly repeats: number;
  readonly peak: CardPeak | undefined;
  readonly seed: number;
  readonly progress: (line: string) => void;
}

/** Per shape: each qgemm variant under each quant setting, then the f16 and f32 linear; failures become rows. */
export async function benchGemms(gpu: GpuContext, shapes: readonly GemmShape[], o: GemmBenchOptions): Promise<GemmResult[]> {
  const rows: GemmResult[] = [];
  for (const [si, s] of shapes.entries()) {
    const tag = `[${si + 1}/${shapes.length}] ${shapeName(s)}`;
    for (const quant of o.quants) {
      const c = qgemmCase(s, { abits: abitsOf(quant), seed: o.seed + 17 * si });
      for (const v of QGEMM_VARIANTS) {
        const skipped = variantUnavailable(v, gpu);
        const row = skipped ? { ...rowBase(s, quant, v), skipped }
          : await timeOne(gpu, s, quant, v, c, { elem: 'f32', caps: gpu.caps, variant: { qgemm: v } }, o);
        o.progress(`${tag} ${quant} qgemm:${v} ${describe(row)}`);
        rows.push(row);
      }
    }
    const c = linearCase(s, o.seed + 17 * si + 5);
    for (const elem of FP_BUILDS) {
      const row = elem === 'f16' && !gpu.caps.hasF16 ? { ...rowBase(s, elem, '-'), skipped: 'no shader-f16' }
        : await timeOne(gpu, s, elem, undefined, c, { elem, caps: gpu.caps }, o);
      o.progress(`${tag} ${elem} linear ${describe(row)}`);
      rows.push(row);
    }
  }
  return rows;
}

function rowBase(s: GemmShape, build: string, variant: string): GemmResult {
  return { shape: shapeName(s), m: s.m, k: s.k, n: s.n, count: s.count, build, variant };
}

async function timeOne(
  gpu: GpuContext, s: GemmShape, build: string, variant: string | undefined, c: GemmCase, ctx: LowerContext,
  o: GemmBenchOptions,
): Promise<GemmResult> {
  const base = rowBase(s, build, variant ?? '');
  try {
    const spec = lowerNode(c.node, ctx);
    const t: TimeOptions = { warmup: o.warmup, repeats: o.repeats, elem: ctx.elem };
    const r = await timeKernel(gpu, spec, c.operands, c.node.type, t);
    const tops = gemmOps(s) / (r.medianMs * 1e9);
    const isInt = c.node.op === 'qgemm';
    return {
      ...base, variant: variant ?? spec.name, kernel: spec.name, medianMs: r.medianMs, samplesMs: r.samplesMs, tops,
      ...(o.peak ? { pctInt8Peak: (100 * tops) / o.peak.int8Tops } : {}),
      ...(o.peak && !isInt ? { pctBf16Peak: (100 * tops) / o.peak.bf16Tflops } : {}),
    };
  } catch (e) {
    return { ...base, error: (e as Error).message.split('\n').slice(0, 3).join(' | ') };
  }
}

function describe(r: GemmResult): string {
  if (r.skipped) return `skipped: ${r.skipped}`;
  if (r.error) return `FAILED: ${r.error}`;
  return `${r.medianMs!.toFixed(3)} ms, ${r.tops!.toFixed(r.tops! < 1 ? 4 : 1)} TOP/s`;
}
