import { join } from 'node:path';
import { verify } from '../../ir/verify.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import type { VDiTConfig } from '../model/config.ts';
import { writeFileAtomic } from '../video/atomic.ts';
import type { Weights } from '../weights/weights.ts';
import { lambdasForRecords } from './importance.ts';
import { scoreSds, type SdsScores } from './sds.ts';
import { StoreReader, type CalibManifest } from './store.ts';
import { selectSamples, type Strategy } from './strategies.ts';
import { cpuGraphRunner, recordTrajectories, trajectoryGraph, wgslGraphRunner, type GraphRunner } from './trajectories.ts';

/**
 * `vdit calib` end to end: trajectories into the store at `out`, SDS scores, the selected K samples, and λ per
 * block for them. Files beside the store:
 *   sds.json           strategy, K, every candidate's C_diff / C_quant / normalised values / C_sample, the selection
 *   lambda-NN.f32      block NN's λ, [selected sample, branch (cond, uncond), key] f32, in sds.json's selection order
 */
export interface CalibrateOptions {
  readonly cfg: VDiTConfig;
  readonly weights: Weights;
  readonly model: string;
  readonly backend: 'cpu' | 'wgsl';
  readonly prompts: number;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
  readonly dtype: 'f16' | 'f32';
  readonly out: string;
  readonly strategy: Strategy;
  readonly k: number;
  readonly lambdaMin: number;
  readonly norm?: 'spectral' | 'frobenius';
  readonly onForward?: (done: number, total: number, ms: number) => void;
  readonly onScore?: (done: number, total: number) => void;
}

export interface CalibrateResult {
  readonly manifest: CalibManifest;
  readonly scores: SdsScores;
  /** candidate indices, best first for the top-K strategies */
  readonly selected: readonly number[];
  readonly device?: string;
}

export async function calibrate(o: CalibrateOptions): Promise<CalibrateResult> {
  // settings the later stages check, checked before minutes of sampling
  if (!(Number.isInteger(o.k) && o.k >= 1)) throw new Error(`calib: K must be a positive integer, got ${o.k}`);
  if (!(o.lambdaMin >= 0 && o.lambdaMin <= 1)) throw new Error(`calib: λ_min must be in [0, 1], got ${o.lambdaMin}`);
  const { manifest, device } = await record(o);
  const store = StoreReader.open(o.out);
  const scores = scoreSds(store, { ...(o.norm ? { norm: o.norm } : {}), ...(o.onScore ? { onProgress: o.onScore } : {}) });
  const selected = selectSamples(o.strategy, scores, o.k, o.seed);
  const picked = selected.map((i) => scores.candidates[i]!);
  writeFileAtomic(join(o.out, 'sds.json'), JSON.stringify({
    strategy: o.strategy, k: o.k, block: 0, norm: o.norm ?? 'spectral',
    candidates: scores.candidates.map((c, i) => ({
      ...c, cDiff: scores.diff[i], cQuant: scores.quant[i], cDiffNorm: scores.diffNorm[i], cQuantNorm: scores.quantNorm[i],
      score: scores.score[i],
    })),
    selected: picked.map((c, r) => ({ rank: r, candidate: selected[r], ...c })),
  }, null, 1));
  if (manifest.keys !== undefined) {
    const lambdas = lambdasForRecords(store, picked.flatMap((c) => [c.cond, c.uncond]), { lambdaMin: o.lambdaMin });
    lambdas.forEach((l, b) => writeFileAtomic(join(o.out, `lambda-${String(b).padStart(2, '0')}.f32`),
      new Uint8Array(l.buffer, l.byteOffset, l.byteLength)));
  }
  return { manifest, scores, selected, ...(device ? { device } : {}) };
}

async function record(o: CalibrateOptions): Promise<{ manifest: CalibManifest; device?: string }> {
  const importance = o.cfg.block !== 'factorized';
  const cg = trajectoryGraph({ cfg: o.cfg, importance });
  const traj = {
    cfg: o.cfg, prompts: o.prompts, steps: o.steps, guidance: o.guidance, seed: o.seed, dtype: o.dtype, importance,
    out: o.out, model: o.model, ...(o.onForward ? { onForward: o.onForward } : {}),
  };
  if (o.backend === 'cpu') return { manifest: await recordTrajectories(traj, cg, cpuGraphRunner(cg.graph, o.weights)) };
  const lowered = runPipeline(cg.graph, parsePipeline(DEFAULT_PIPELINE, new Map(builtinPasses())), { verify }).graph;
  const gpu = await openDevice();
  try {
    const exec = await WgslExecutor.create(gpu, lowered, o.weights, { elem: 'f32' });
    try {
      const run: GraphRunner = wgslGraphRunner(exec);
      const device = gpu.info.adapter.description || gpu.info.adapter.device || gpu.info.adapter.vendor;
      return { manifest: await recordTrajectories(traj, { ...cg, graph: lowered }, run), device };
    } finally {
      exec.dispose();
    }
  } finally {
    closeDevice(gpu);
  }
}
