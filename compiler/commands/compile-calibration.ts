import type { Graph } from '../../ir/graph.ts';
import { samplerBounds } from '../../passes/prune-schedule.ts';
import {
  DEFAULT_PRUNE_TILE, importanceFromStore, scheduleFromStore, type PruneTokensOptions,
} from '../../passes/prune-tokens.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { StoreReader } from '../calib/store.ts';
import { checkCompileOptions } from '../compile/compile-model.ts';
import { s2qBuild, storeCalibration, type S2qBuild } from '../compile/s2q-build.ts';
import { createProgress, type Progress } from '../generate/progress.ts';
import { modelDims } from '../model/config.ts';
import type { LoadedModel } from '../models.ts';
import { splitPatternList } from '../quant/spec.ts';
import type { CompileArgs } from './compile.ts';

/** What `vdit compile` runs before the build: S²Q's calibration, the baselines' store statistics, `--prune`. */

/** What `--prune` asks for: one keep fraction, or one per timestep range (a schedule), and the tile size. */
export interface PruneRequest {
  /** keep fractions in sampling order (noisiest first); one entry = the same budget at every step */
  readonly keeps: readonly number[];
  readonly tile: number;
  /** select=online: tiles chosen per sample at run time (tile_select), no calibration store */
  readonly online?: boolean;
  /** online: queries per selection (default tile) */
  readonly qtile?: number;
  /** blocks left dense at every step */
  readonly dense?: readonly number[];
  /**
   * cache=residual: pruned steps add the residual (dense − sparse) of the last dense step (online schedules);
   * cache=frozen: and reuse that step's tile lists; cache=lazy: both taken at the first pruned step (no sparse part
   * at dense steps)
   */
  readonly residual?: boolean | 'frozen' | 'lazy';
}

const PRUNE_USAGE =
  'expected keep=F or schedule=F1/F2/… (FxN: N entries of F)[,tile=N][,select=store|online][,qtile=N][,dense=B1/B2/…][,cache=none|residual|frozen|lazy]';
const PRUNE_KEYS = ['keep', 'schedule', 'tile', 'select', 'qtile', 'dense', 'cache'];

/** A positive (or, with min 0, non-negative) integer option's value. */
function intOption(name: string, text: string, min = 1): number {
  const x = Number(text);
  if (!(text.trim() !== '' && Number.isInteger(x) && x >= min)) {
    throw new Error(`--prune: ${name} must be ${min ? 'a positive' : 'a non-negative'} integer, got '${text}'`);
  }
  return x;
}

/** A schedule's fractions: F1/F2/…, where FxN stands for N entries of F (`1x4/0.25x3/1/0.25x3`). */
function scheduleKeeps(text: string): number[] {
  return text.split('/').flatMap((entry) => {
    const [f, count, ...rest] = entry.split('x');
    if (count === undefined) return [Number(f)];
    if (rest.length) throw new Error(`--prune: schedule entry '${entry}' is not F or FxN`);
    return new Array<number>(intOption('a schedule repeat', count)).fill(Number(f));
  });
}

/** `--prune keep=0.5,tile=64`, `--prune schedule=1/0.5/0.25`, `--prune keep=0.5,select=online` → its request. */
export function parsePrune(text: string): PruneRequest {
  const opts = new Map(text.split(',').map((kv) => {
    const [k, v, ...rest] = kv.split('=');
    if (!k || v === undefined || rest.length) throw new Error(`--prune '${text}': ${PRUNE_USAGE}`);
    return [k.trim(), v.trim()] as const;
  }));
  for (const k of opts.keys()) {
    if (!PRUNE_KEYS.includes(k)) throw new Error(`--prune: unknown option '${k}' (${PRUNE_KEYS.join(', ')})`);
  }
  const select = opts.get('select') ?? 'store';
  if (select !== 'store' && select !== 'online') throw new Error(`--prune: select must be store or online, got '${select}'`);
  const [keep, schedule] = [opts.get('keep'), opts.get('schedule')];
  if ((keep === undefined) === (schedule === undefined)) throw new Error(`--prune '${text}': ${PRUNE_USAGE} (one of keep, schedule)`);
  const keeps = keep !== undefined ? [Number(keep)] : scheduleKeeps(schedule!);
  for (const f of keeps) if (!(f > 0 && f <= 1)) throw new Error(`--prune: keep must be in (0, 1], got '${keep ?? schedule}'`);
  const tile = intOption('tile', opts.get('tile') ?? String(DEFAULT_PRUNE_TILE));
  const qtile = opts.get('qtile');
  if (qtile !== undefined && select !== 'online') throw new Error('--prune: qtile needs select=online (per query tile lists)');
  const dense = opts.get('dense')?.split('/').map((b) => intOption('dense', b, 0));
  const cache = opts.get('cache') ?? 'none';
  if (!['none', 'residual', 'frozen', 'lazy'].includes(cache)) {
    throw new Error(`--prune: cache must be none, residual, frozen or lazy, got '${cache}'`);
  }
  if (cache !== 'none' && (select !== 'online' || schedule === undefined)) {
    throw new Error(`--prune: cache=${cache} needs select=online and a schedule (its dense ranges refresh the residual)`);
  }
  return {
    keeps, tile, ...(select === 'online' ? { online: true } : {}),
    ...(qtile !== undefined ? { qtile: intOption('qtile', qtile) } : {}), ...(dense ? { dense } : {}),
    ...(cache === 'residual' ? { residual: true } : cache === 'frozen' || cache === 'lazy' ? { residual: cache } : {}),
  };
}

const denseOf = (o: PruneRequest): { dense?: readonly number[] } => (o.dense ? { dense: o.dense } : {});

/**
 * The pass options of a request: online (no store; the text tokens that lead a joint block's keys always kept, as the
 * store's textTokens are; a schedule splits the default sampler's steps as a store's would be), or ranked by the
 * attention importance of the store at `dir`.
 */
export function pruneFromStore(o: PruneRequest, dir: string | undefined, model?: LoadedModel): PruneTokensOptions {
  if (o.online) {
    const cfg = model?.config;
    const keepFirst = cfg?.block === 'joint' ? modelDims(cfg).textTokens : 0;
    const common = { tile: o.tile, keepFirst, online: true, ...denseOf(o), ...(o.qtile ? { qtile: o.qtile } : {}),
      ...(o.residual ? { residual: o.residual } : {}) } as const;
    if (o.keeps.length === 1) return { ...common, keep: o.keeps[0]! };
    return { ...common, keeps: o.keeps, bounds: samplerBounds(o.keeps.length) };
  }
  if (dir === undefined) throw new Error('--prune needs --calib-store <dir> (its attention importance) or select=online');
  const store = StoreReader.open(dir);
  const common = { tile: o.tile, keepFirst: store.manifest.textTokens, ...denseOf(o) };
  if (o.keeps.length === 1) return { ...common, keep: o.keeps[0]!, importance: importanceFromStore(store) };
  return { ...common, ...scheduleFromStore(store, o.keeps) };
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
