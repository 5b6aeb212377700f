import type { Graph } from '../../ir/graph.ts';
import { DEFAULT_PRUNE_TILE, importanceFromStore, type PruneTokensOptions } from '../../passes/prune-tokens.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { StoreReader } from '../calib/store.ts';
import { checkCompileOptions } from '../compile/compile-model.ts';
import { s2qBuild, storeCalibration, type S2qBuild } from '../compile/s2q-build.ts';
import { createProgress, type Progress } from '../generate/progress.ts';
import type { LoadedModel } from '../models.ts';
import { splitPatternList } from '../quant/spec.ts';
import type { CompileArgs } from './compile.ts';

/** What `vdit compile` runs before the build: S²Q's calibration, the baselines' store statistics, `--prune`. */

/** `--prune keep=0.5,tile=64` → its options. */
export function parsePrune(text: string): { keep: number; tile: number } {
  const opts = new Map(text.split(',').map((kv) => {
    const [k, v, ...rest] = kv.split('=');
    if (!k || v === undefined || rest.length) throw new Error(`--prune '${text}': expected keep=F[,tile=N]`);
    return [k.trim(), Number(v)] as const;
  }));
  for (const k of opts.keys()) if (k !== 'keep' && k !== 'tile') throw new Error(`--prune: unknown option '${k}' (keep, tile)`);
  const keep = opts.get('keep');
  const tile = opts.get('tile') ?? DEFAULT_PRUNE_TILE;
  if (keep === undefined || !(keep > 0 && keep <= 1)) throw new Error(`--prune: keep must be in (0, 1], got ${String(keep)}`);
  if (!(Number.isInteger(tile) && tile >= 1)) throw new Error(`--prune: tile must be a positive integer, got ${tile}`);
  return { keep, tile };
}

export function pruneFromStore(o: { keep: number; tile: number }, dir: string): PruneTokensOptions {
  const store = StoreReader.open(dir);
  return { ...o, importance: importanceFromStore(store), keepFirst: store.manifest.textTokens };
}

/** Trajectories, selection and per-block distillation of `--method s2q`, with progress bars. */
export async function runS2q(args: CompileArgs, model: LoadedModel, graph: Graph, gpu: GpuContext): Promise<S2qBuild> {
  if (!model.config) throw new Error('--method s2q needs a preset model (its blocks are distilled one by one)');
  const traj = createProgress('trajectories', args.calibPrompts * args.calibSteps, args.json);
  let distill: Progress | undefined;
  try {
    return await s2qBuild({
      cfg: model.config, graph, weights: model.weights, modelName: model.name, quant: checkCompileOptions(args.quant, args.method),
      keepFp: splitPatternList(args.keepFp ?? ''), gpu, prompts: args.calibPrompts, steps: args.calibSteps,
      samples: args.calibSamples, sds: args.sds, std: args.std, ...(args.calibStrategy ? { strategy: args.calibStrategy } : {}), epochs: args.calibEpochs, lambdaMin: args.lambdaMin,
      ...(args.calibStore !== undefined ? { store: args.calibStore } : {}),
      onTrajectory: (i, _, ms) => traj.update(i, ms),
      onStep: (i, total) => {
        if (!distill) {
          traj.stop();
          distill = createProgress('distill blocks', total, args.json);
        }
        distill.update(i, 0);
      },
    });
  } finally {
    traj.stop();
    distill?.stop();
  }
}

/** smoothquant / viditq / gptq statistics from `--calib-store` (K uniform timesteps of its trajectories). */
export async function baselineStats(args: CompileArgs, model: LoadedModel, graph: Graph, gpu: GpuContext) {
  if (!model.config) throw new Error('--calib-store needs a preset model (statistics are gathered block by block)');
  const traj = createProgress('trajectories', args.calibPrompts * args.calibSteps, args.json);
  try {
    return await storeCalibration({
      cfg: model.config, graph, weights: model.weights, modelName: model.name, quant: checkCompileOptions(args.quant, args.method),
      keepFp: splitPatternList(args.keepFp ?? ''), gpu, prompts: args.calibPrompts, steps: args.calibSteps,
      samples: args.calibSamples, store: args.calibStore!, onTrajectory: (i, _, ms) => traj.update(i, ms),
    });
  } finally {
    traj.stop();
  }
}

export function s2qReport(s: S2qBuild): Record<string, unknown> {
  return {
    strategy: s.strategy, samples: s.samples, seconds: s.ms / 1000, trajectorySeconds: s.trajectoryMs / 1000,
    distillSeconds: s.distillMs / 1000,
    blocks: s.blocks.map((b) => ({ block: b.block, steps: b.steps, firstLoss: b.firstLoss ?? null, lastLoss: b.lastLoss ?? null })),
  };
}
