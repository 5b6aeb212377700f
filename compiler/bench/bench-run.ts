import { closeDevice, openDevice, type DeviceInfo } from '../../runtime/device.ts';
import { modelDims } from '../model/config.ts';
import { seededInputs } from '../inputs.ts';
import { loadModel } from '../models.ts';
import { benchGemms, checkExactness, QGEMM_VARIANTS, abitsOf, type ExactnessResult, type GemmResult } from './gemm-bench.ts';
import { modelGemmShapes, shapeName, type GemmShape } from './gemm-shapes.ts';
import { cardPeak, type CardPeak } from './peaks.ts';
import { benchStep, STEP_BUILDS, type StepResult } from './step-bench.ts';

export const BENCH_FORMAT = 'vdit-bench/1';

export interface BenchOptions {
  readonly model: string;
  readonly weights: string;
  readonly quants: readonly string[];
  readonly warmup: number;
  readonly repeats: number;
  readonly shapes: boolean;
  readonly step: boolean;
  readonly builds: readonly string[];
  readonly qgemmVariant?: string;
  readonly seed: number;
  /** only these shapes (MxKxN) of the model */
  readonly only?: readonly string[];
  readonly progress: (line: string) => void;
}

/** Everything `vdit bench` measured, with the card, driver, versions and flags beside the figures. */
export interface BenchReport {
  readonly format: string;
  readonly date: string;
  readonly model: string;
  readonly weights: string;
  readonly options: { quants: string[]; warmup: number; repeats: number; builds: string[]; qgemmVariant?: string; seed: number };
  readonly device: DeviceInfo;
  readonly peak?: Omit<CardPeak, 'match'> & { match: string };
  readonly shapes: GemmShape[];
  readonly exactness: ExactnessResult[];
  readonly gemms: GemmResult[];
  readonly step: StepResult[];
}

export function checkBenchOptions(o: Pick<BenchOptions, 'quants' | 'builds' | 'warmup' | 'repeats' | 'qgemmVariant'>): void {
  for (const q of o.quants) abitsOf(q);
  for (const b of o.builds) {
    const [base, prune, ...rest] = b.split('@');
    if (!(STEP_BUILDS as readonly string[]).includes(base!) || rest.length) {
      throw new Error(`--builds: '${b}' is not one of ${STEP_BUILDS.join(', ')} (optionally @keep=F or @online=F)`);
    }
    const keep = prune === undefined ? 1 : /^(?:keep|online)=([\d.]+)$/.exec(prune)?.[1];
    if (!(Number(keep) > 0 && Number(keep) <= 1)) throw new Error(`--builds: '${b}': expected @keep=F or @online=F with F in (0, 1]`);
  }
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new Error(`--warmup must be an integer ≥ 0, got ${o.warmup}`);
  if (!Number.isInteger(o.repeats) || o.repeats < 1) throw new Error(`--repeats must be an integer ≥ 1, got ${o.repeats}`);
  if (o.qgemmVariant !== undefined && !(QGEMM_VARIANTS as readonly string[]).includes(o.qgemmVariant)) {
    throw new Error(`--qgemm-variant '${o.qgemmVariant}' is not one of ${QGEMM_VARIANTS.join(', ')}`);
  }
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  checkBenchOptions(o);
  const model = loadModel(o.model, { weights: o.weights });
  const shapes = selectShapes(modelGemmShapes(model.graph, o.quants[0] ?? 'w4a8'), o.only);
  const gpu = await openDevice();
  try {
    if (gpu.caps.isFallback) o.progress(`warning: ${gpu.info.adapter.description} is a software adapter; timings mean nothing`);
    const peak = cardPeak(gpu.caps.adapter);
    o.progress(`${model.name}: ${shapes.length} distinct quantized linear shapes on ${gpu.info.adapter.device || gpu.info.adapter.description}`);
    const exactness: ExactnessResult[] = [];
    let gemms: GemmResult[] = [];
    if (o.shapes) {
      for (const v of QGEMM_VARIANTS) {
        const e = await checkExactness(gpu, v);
        o.progress(`exactness ${v}: ${e.skipped ? `skipped (${e.skipped})` : e.error ? `FAILED: ${e.error}` : e.exact ? 'exact' : `${e.mismatches} mismatches`}`);
        exactness.push(e);
      }
      gemms = await benchGemms(gpu, shapes, { quants: o.quants, warmup: o.warmup, repeats: o.repeats, peak, seed: o.seed, progress: o.progress });
    }
    const step = o.step
      ? await benchStep(gpu, model.graph, model.weights, seededInputs(model.graph, o.seed), o.builds, {
        warmup: o.warmup, repeats: o.repeats, progress: o.progress, ...(o.qgemmVariant ? { qgemmVariant: o.qgemmVariant } : {}),
        keepFirst: model.config ? modelDims(model.config).textTokens : 0,
      })
      : [];
    return {
      format: BENCH_FORMAT, date: new Date().toISOString(), model: model.name, weights: model.weightsFrom,
      options: {
        quants: [...o.quants], warmup: o.warmup, repeats: o.repeats, builds: [...o.builds], seed: o.seed,
        ...(o.qgemmVariant ? { qgemmVariant: o.qgemmVariant } : {}),
      },
      device: gpu.info, ...(peak ? { peak: { ...peak, match: peak.match.source } } : {}),
      shapes, exactness, gemms, step,
    };
  } finally {
    closeDevice(gpu);
  }
}

function selectShapes(all: GemmShape[], only: readonly string[] | undefined): GemmShape[] {
  if (!only?.length) return all;
  const names = all.map(shapeName);
  const bad = only.filter((s) => !names.includes(s));
  if (bad.length) throw new Error(`--only: ${bad.join(', ')} is not a linear shape of the model (${names.join(', ')})`);
  return all.filter((s) => only.includes(shapeName(s)));
}
