import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Graph } from '../../ir/graph.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { calibrate } from '../calib/calibrate.ts';
import { DEFAULT_LAMBDA_MIN, lambdaFromImportance } from '../calib/importance.ts';
import { scoreSds, type Candidate } from '../calib/sds.ts';
import { StoreReader } from '../calib/store.ts';
import { DEFAULT_K, selectSamples, type Strategy } from '../calib/strategies.ts';
import type { VDiTConfig } from '../model/config.ts';
import type { MethodModel } from '../quant/method-transform.ts';
import type { LinearStats } from '../quant/linear-stats.ts';
import type { BlockResult, DistillRecord } from '../quant/s2q/distill.ts';
import { storeLinearStats } from '../quant/s2q/store-stats.ts';
import { wgslExec } from '../quant/s2q/exec.ts';
import { s2qCalibrate, s2qMethodModel } from '../quant/s2q/s2q.ts';
import type { Weights } from '../weights/weights.ts';
import { compileQuantConfig } from './quant-build.ts';

/*
 * `--method s2q` before the build (PAPER.md §1): FP trajectories of P prompts × T steps with CFG into a calibration
 * store (compiler/calib/), SDS picks K (prompt, step) samples (`--no-sds`: K uniform timesteps instead), λ from the
 * FP attention importance (`--no-std`: λ = 1, plain MSE), then every block is distilled on the GPU and folded
 * (compiler/quant/s2q/). The store lives in a temp folder unless `store` names one; an existing store is reused.
 */

export interface S2qBuildOptions {
  readonly cfg: VDiTConfig;
  /** the model to deploy: the class-conditioned denoiser at the sampling batch */
  readonly graph: Graph;
  readonly weights: Weights;
  readonly modelName: string;
  readonly quant: string;
  readonly keepFp?: readonly string[];
  readonly gpu: GpuContext;
  readonly prompts?: number;
  readonly steps?: number;
  readonly samples?: number;
  readonly sds?: boolean;
  /** selection strategy, overriding sds (the comparison variants of compiler/calib/strategies.ts) */
  readonly strategy?: Strategy;
  readonly std?: boolean;
  readonly epochs?: number;
  readonly lambdaMin?: number;
  readonly guidance?: number;
  readonly seed?: number;
  readonly store?: string;
  readonly onTrajectory?: (done: number, total: number, ms: number) => void;
  /** training steps over all blocks */
  readonly onStep?: (step: number, total: number, loss: number) => void;
  readonly onBlock?: (block: number, blocks: number, r: BlockResult) => void;
}

export interface S2qBuild {
  readonly model: MethodModel;
  readonly ms: number;
  /** selected samples (each both CFG branches) */
  readonly samples: number;
  readonly strategy: Strategy;
  readonly trajectoryMs: number;
  readonly distillMs: number;
  readonly blocks: readonly BlockResult[];
}

export const S2Q_DEFAULTS = { prompts: 10, steps: 30, samples: DEFAULT_K, guidance: 2, seed: 0 } as const;

/** The selected records of a (possibly new) calibration store; `close` removes a temp store. */
interface CalibrationData {
  readonly store: StoreReader;
  readonly records: readonly DistillRecord[];
  readonly samples: number;
  readonly strategy: Strategy;
  readonly trajectoryMs: number;
  close(): void;
}

type StoreOptions = Pick<S2qBuildOptions, 'cfg' | 'weights' | 'modelName' | 'prompts' | 'steps' | 'samples' | 'lambdaMin'
  | 'guidance' | 'seed' | 'store' | 'onTrajectory'>;

async function openCalibration(o: StoreOptions, strategy: Strategy): Promise<CalibrationData> {
  const t0 = performance.now();
  const k = o.samples ?? S2Q_DEFAULTS.samples;
  const seed = o.seed ?? S2Q_DEFAULTS.seed;
  const temp = o.store === undefined ? mkdtempSync(join(tmpdir(), 'vdit-s2q-')) : undefined;
  const close = (): void => {
    if (temp) rmSync(temp, { recursive: true, force: true });
  };
  const dir = o.store ?? join(temp!, 'store');
  try {
    let picked: Candidate[];
    if (existsSync(join(dir, 'manifest.json'))) {
      const store = StoreReader.open(dir);
      if (store.manifest.model !== o.modelName) throw new Error(`${dir}: a calibration store of '${store.manifest.model}', not '${o.modelName}'`);
      const scores = scoreSds(store);
      // a store made by `vdit calib --seed S` draws random-t with S unless a seed is given
      picked = selectSamples(strategy, scores, k, o.seed ?? store.manifest.seed).map((i) => scores.candidates[i]!);
    } else {
      const res = await calibrate({
        cfg: o.cfg, weights: o.weights, model: o.modelName, backend: 'wgsl', prompts: o.prompts ?? S2Q_DEFAULTS.prompts,
        steps: o.steps ?? S2Q_DEFAULTS.steps, guidance: o.guidance ?? S2Q_DEFAULTS.guidance, seed, dtype: 'f16', out: dir,
        strategy, k, lambdaMin: o.lambdaMin ?? DEFAULT_LAMBDA_MIN, ...(o.onTrajectory ? { onForward: o.onTrajectory } : {}),
      });
      picked = res.selected.map((i) => res.scores.candidates[i]!);
    }
    const store = StoreReader.open(dir);
    const nullClass = o.cfg.classes! - 1;
    const byId = new Map(store.manifest.records.map((r) => [r.id, r]));
    const records = picked.flatMap((c) => [c.cond, c.uncond]).map((id) => {
      const r = byId.get(id)!;
      return { id, t: r.t, y: r.branch === 'cond' ? r.cls : nullClass };
    });
    return { store, records, samples: picked.length, strategy, trajectoryMs: performance.now() - t0, close };
  } catch (e) {
    close();
    throw e;
  }
}

export async function s2qBuild(o: S2qBuildOptions): Promise<S2qBuild> {
  const t0 = performance.now();
  const cal = await openCalibration(o, o.strategy ?? (o.sds === false ? 'uniform-t' : 'sds'));
  try {
    const { store, records } = cal;
    const std = o.std !== false;
    if (std && store.manifest.keys === undefined) throw new Error(`${store.dir}: the store has no attention importance for STD`);
    const lambdaOpts = { lambdaMin: o.lambdaMin ?? DEFAULT_LAMBDA_MIN, textTokens: store.manifest.textTokens };
    const t1 = performance.now();
    const result = await s2qCalibrate(o.cfg, o.weights, compileQuantConfig(o.quant, o.keepFp ?? []), {
      records,
      input: (b, id) => store.blockInput(b, id),
      ...(std ? { lambda: (b: number, id: number) => lambdaFromImportance(store.importance(b, id), lambdaOpts) } : {}),
    }, wgslExec(o.gpu, o.weights), {
      seed: o.seed ?? S2Q_DEFAULTS.seed,
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      ...(o.onStep ? { onStep: o.onStep } : {}),
      ...(o.onBlock ? { onBlock: o.onBlock } : {}),
    });
    const model = s2qMethodModel(o.graph, o.weights, result);
    return {
      model, ms: performance.now() - t0, samples: cal.samples, strategy: cal.strategy, trajectoryMs: cal.trajectoryMs,
      distillMs: performance.now() - t1, blocks: result.blocks,
    };
  } finally {
    cal.close();
  }
}

/**
 * The baselines' statistics (smoothquant, viditq, gptq) from a calibration store: K uniform timesteps, as the
 * lineage calibrates, over the same trajectories S²Q uses (compiler/quant/s2q/store-stats.ts).
 */
export async function storeCalibration(
  o: StoreOptions & Pick<S2qBuildOptions, 'graph' | 'quant' | 'keepFp' | 'gpu'>,
): Promise<{ stats: Map<string, LinearStats>; ms: number; samples: number }> {
  const t0 = performance.now();
  const cal = await openCalibration(o, 'uniform-t');
  try {
    const data = { records: cal.records, input: (b: number, id: number) => cal.store.blockInput(b, id) };
    const stats = await storeLinearStats(o.cfg, o.graph, o.weights, compileQuantConfig(o.quant, o.keepFp ?? []), data,
      wgslExec(o.gpu, o.weights));
    return { stats, ms: performance.now() - t0, samples: cal.samples };
  } finally {
    cal.close();
  }
}
