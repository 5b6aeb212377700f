import type { Graph } from '../../ir/graph.ts';
import { attr } from '../../ir/node.ts';
import type { WgslExecutor } from '../../runtime/executor.ts';
import { gaussianNoise } from '../../runtime/noise.ts';
import { runReference } from '../../runtime/reference.ts';
import { sampleFlow } from '../../runtime/sampler.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { clipSeed, mulberry32 } from '../data/prng.ts';
import type { VDiTConfig } from '../model/config.ts';
import type { Weights } from '../weights/weights.ts';
import { buildCalibGraph, type CalibGraph } from './calib-graph.ts';
import { StoreWriter, type CalibManifest } from './store.ts';

/**
 * Calibration trajectories (S²Q-VDiT §3.2, App. A): the FP model samples P prompts (classes) × T Euler steps with
 * CFG, one clip per forward (batch 2: cond, uncond), and every forward appends two records to the store, the cond
 * branch then the uncond branch, each holding every block's input tokens (and S per block with importance).
 * PAPER.md §10 reading 4: SDS scores the cond records; a selected sample carries both branches, so both are kept.
 * Prompt p's class is drawn from mulberry32(seed) over the non-null classes; its noise is
 * gaussianNoise(clipSeed(class, seed + p)).
 */

/** Runs the calibration graph once: its outputs in order. */
export type GraphRunner = (inputs: Record<string, Tensor>) => Promise<Tensor[]>;

export function cpuGraphRunner(g: Graph, weights: Weights): GraphRunner {
  return async (inputs) => runReference(g, inputs, weights);
}

/** An executor created for the calibration graph (after whatever lowering passes keep its outputs). */
export function wgslGraphRunner(exec: WgslExecutor): GraphRunner {
  return async (inputs) => (await exec.run(inputs)).outputs;
}

export interface TrajectoryOptions {
  /** model config; its batch is replaced by 2 */
  readonly cfg: VDiTConfig;
  readonly prompts: number;
  readonly steps: number;
  /** CFG scale */
  readonly guidance: number;
  readonly seed: number;
  /** storage of block inputs */
  readonly dtype: 'f16' | 'f32';
  readonly importance: boolean;
  readonly out: string;
  readonly model?: string;
  /** called after each forward with (forwards done, total) */
  readonly onForward?: (done: number, total: number, ms: number) => void;
}

/** The calibration graph for `opts`, to build a runner for before calling recordTrajectories. */
export function trajectoryGraph(opts: Pick<TrajectoryOptions, 'cfg' | 'importance'>): CalibGraph {
  return buildCalibGraph({ ...opts.cfg, batch: 2 }, { importance: opts.importance });
}

export function promptClasses(cfg: VDiTConfig, prompts: number, seed: number): number[] {
  if (cfg.classes === undefined || cfg.classes < 2) throw new Error(`model '${cfg.name}' is not class-conditioned`);
  const r = mulberry32(seed >>> 0);
  return Array.from({ length: prompts }, () => Math.floor(r.next() * (cfg.classes! - 1)));
}

export async function recordTrajectories(opts: TrajectoryOptions, cg: CalibGraph, run: GraphRunner): Promise<CalibManifest> {
  checkOptions(opts);
  const classes = promptClasses(opts.cfg, opts.prompts, opts.seed);
  const writer = StoreWriter.create(opts.out, {
    model: opts.model ?? opts.cfg.name, dtype: opts.dtype, blocks: cg.blocks, tokens: cg.tokens, channels: cg.channels,
    textTokens: cg.textTokens, ...(cg.keys !== undefined ? { keys: cg.keys } : {}),
    prompts: opts.prompts, steps: opts.steps, guidance: opts.guidance, seed: opts.seed,
  });
  try {
    const xType = cg.graph.inputs.find((n) => attr(n, 'name') === 'x')!.type;
    const clipSize = xType.shape.slice(1).reduce((a, b) => a * b, 1);
    const total = opts.prompts * opts.steps;
    for (const [p, cls] of classes.entries()) {
      let step = 0;
      const denoise = async (x: Float32Array, t: Float32Array, y: Int32Array): Promise<Float32Array> => {
        const byName = Object.fromEntries(cg.graph.inputs.map((n) => [attr<string>(n, 'name'), n.type]));
        const outs = await run({ x: tensor(byName['x']!, x), t: tensor(byName['t']!, t), y: tensor(byName['y']!, y) });
        appendForward(writer, cg, outs, { prompt: p, cls, step: step++, t: t[0]! });
        return outs[0]!.data as Float32Array;
      };
      const noise = gaussianNoise(clipSize, clipSeed(cls, (opts.seed + p) >>> 0));
      await sampleFlow(denoise, [noise], [cls], {
        steps: opts.steps, cfg: opts.guidance, nullClass: opts.cfg.classes! - 1,
        onStep: (i, _, ms) => opts.onForward?.(p * opts.steps + i, total, ms),
      });
    }
    return writer.finish();
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** Splits one batch-2 forward's outputs into the cond record then the uncond record. */
function appendForward(
  w: StoreWriter, cg: CalibGraph, outs: readonly Tensor[], rec: { prompt: number; cls: number; step: number; t: number },
): void {
  const blocks = outs.slice(1, 1 + cg.blocks);
  const attn = outs.slice(1 + cg.blocks);
  const row = cg.tokens * cg.channels;
  for (const [b, branch] of (['cond', 'uncond'] as const).entries()) {
    const f = (t: Tensor, n: number): Float32Array => (t.data as Float32Array).subarray(b * n, (b + 1) * n);
    w.append({ ...rec, branch }, blocks.map((t) => f(t, row)), attn.map((t) => f(t, cg.keys!)));
  }
}

function checkOptions(o: TrajectoryOptions): void {
  for (const [name, v] of [['prompts', o.prompts], ['steps', o.steps]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`calib: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isFinite(o.guidance)) throw new Error(`calib: guidance must be finite, got ${o.guidance}`);
  if (!(Number.isInteger(o.seed) && o.seed >= 0)) throw new Error(`calib: seed must be a non-negative integer, got ${o.seed}`);
}
