import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import {
  checkCompileOptions, COMPILE_METHODS, COMPILE_QUANTS, compileModel, type CompileReport,
} from '../compile/compile-model.ts';
import { buildDiT } from '../model/dit.ts';
import { loadModel } from '../models.ts';
import { layerPrecision } from '../quant/quantized-weights.ts';
import { splitPatternList } from '../quant/spec.ts';
import { emit, fmt, table, type GlobalArgs, WEIGHTS_OPTION } from './output.ts';
import { DEFAULT_LAMBDA_MIN } from '../calib/importance.ts';
import { STRATEGIES, type Strategy } from '../calib/strategies.ts';
import { isQuantMethod, needsCalibration } from '../quant/method-transform.ts';
import { S2Q_DEFAULTS } from '../compile/s2q-build.ts';
import { baselineStats, parsePrune, pruneFromStore, runS2q, s2qReport } from './compile-calibration.ts';
import { DEFAULT_EPOCHS } from '../quant/s2q/distill.ts';

export interface CompileArgs extends GlobalArgs {
  model: string;
  quant: string;
  method: string;
  target: 'wgsl' | 'cuda';
  output: string;
  weights?: string;
  keepFp?: string;
  sds: boolean;
  calibStrategy?: Strategy;
  std: boolean;
  calibPrompts: number;
  calibSamples: number;
  calibSteps: number;
  calibEpochs: number;
  calibStore?: string;
  lambdaMin: number;
  batch: number;
  prune?: string;
}

export const compileCommand = {
  command: 'compile <model>',
  describe: 'quantize and compile a model into a self-contained folder (weights.bin, kernels, manifest, run.js)',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', describe: 'preset name or IR text file (class-conditioned)' })
      .option('quant', { type: 'string', default: 'w4a6', describe: `precision: ${COMPILE_QUANTS.join('|')}` })
      .option('method', {
        type: 'string', default: 'rtn',
        describe: `quantization method: ${COMPILE_METHODS.join('|')} (smoothquant, viditq and gptq calibrate on 2 ` +
          'seeded FP forwards; s2q on FP trajectories, see --calib-*)',
      })
      .option('sds', { type: 'boolean', default: true, describe: 's2q: Hessian-aware salient data selection (--no-sds: uniform timesteps)' })
      .option('calib-strategy', {
        choices: STRATEGIES, describe: 's2q: selection strategy instead of --sds/--no-sds (the paper\'s comparison variants)',
      })
      .option('std', { type: 'boolean', default: true, describe: 's2q: attention-weighted token distillation (--no-std: plain MSE)' })
      .option('calib-prompts', { type: 'number', default: S2Q_DEFAULTS.prompts, describe: 's2q: prompts (random classes) sampled for calibration' })
      .option('calib-steps', { type: 'number', default: S2Q_DEFAULTS.steps, describe: 's2q: sampler steps per prompt (every step is a candidate)' })
      .option('calib-samples', { type: 'number', default: S2Q_DEFAULTS.samples, describe: 's2q: samples K selected from the prompts × steps pool' })
      .option('calib-epochs', { type: 'number', default: DEFAULT_EPOCHS, describe: 's2q: distillation epochs per block' })
      .option('calib-store', {
        type: 'string',
        describe: 'calibration store folder, reused when it exists: s2q keeps it there; smoothquant, viditq and gptq then take ' +
          'their statistics from --calib-samples uniform timesteps of it instead of 2 seeded forwards',
      })
      .option('lambda-min', { type: 'number', default: DEFAULT_LAMBDA_MIN, describe: 's2q: λ_min of the token weights (Eq. 11)' })
      .option('target', {
        choices: ['wgsl', 'cuda'] as const, default: 'wgsl' as const,
        describe: 'cuda: also write cuda/*.cu (one per kernel, header vdit_cuda.cuh, kernels.json) beside the WGSL',
      })
      .option('batch', { type: 'number', default: 1, describe: 'clips per forward the folder is built for (CFG pairs: batch 2×N)' })
      .option('prune', {
        type: 'string',
        describe: 'keep=F[,tile=N]: prune self-attention K/V to the fraction F of key tiles (N keys each, default 64) ' +
          'with the highest attention importance of --calib-store (passes/prune-tokens.ts); schedule=F1/F2/… instead ' +
          'gives one fraction per equal range of sampling steps, noisiest first, each ranked by its own steps (FxN: ' +
          'N entries of F); ' +
          'select=online picks the tiles per sample, head and query tile at run time instead (no --calib-store; ' +
          'a schedule then splits the 30 steps of vdit generate/eval; qtile=N: queries per selection, default tile, ' +
          '128 lets CUDA run 8-warp blocks); dense=B1/B2/…: blocks whose attention stays dense; cache=residual ' +
          '(online schedules, the first range 1, the last < 1): a pruned step adds the residual dense − sparse ' +
          'that the last dense step left (passes/prune-residual.ts); cache=frozen: and that step\'s tile lists; ' +
          'cache=lazy: frozen, with the residual and the lists taken at the first pruned step (dense steps run no ' +
          'sparse part)',
      })
      .option('keep-fp', KEEP_FP_OPTION)
      .option('weights', WEIGHTS_OPTION)
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'folder to write' }),
  handler: async (args: CompileArgs) => {
    checkCompileOptions(args.quant, args.method);
    const pruneOpts = args.prune !== undefined ? parsePrune(args.prune) : undefined;
    if (pruneOpts && !pruneOpts.online && args.calibStore === undefined) {
      throw new Error('--prune needs --calib-store <dir> (its attention importance) or select=online');
    }
    const model = loadModel(args.model, args.weights ? { weights: args.weights } : {});
    if (model.config && model.config.classes === undefined) throw new Error(`model '${model.name}' is not class-conditioned`);
    // built at the sampling batch: --batch CFG pairs (cond + uncond) per forward
    if (!(Number.isInteger(args.batch) && args.batch >= 1)) throw new Error(`--batch must be a positive integer, got ${args.batch}`);
    if (!model.config && args.batch !== 1) throw new Error(`--batch ${args.batch} needs a preset (an IR file keeps its own batch)`);
    const graph = model.config ? buildDiT({ ...model.config, batch: 2 * args.batch }) : model.graph;
    const gpu = await openDevice();
    let report: CompileReport;
    try {
      const s2q = args.method === 's2q' && args.quant !== 'none' ? await runS2q(args, model, graph, gpu) : undefined;
      const fromStore = args.calibStore !== undefined && args.quant !== 'none' && isQuantMethod(args.method)
        && needsCalibration(args.method) ? await baselineStats(args, model, graph, gpu) : undefined;
      const prune = pruneOpts ? pruneFromStore(pruneOpts, args.calibStore, model) : undefined;
      report = compileModel(graph, model.weights, {
        ...(prune ? { calibration: { prune } } : {}),
        ...(s2q ? {
          calibration: { model: s2q.model, ms: s2q.ms, inputs: s2q.samples, ...(prune ? { prune } : {}) },
          calibrationReport: s2qReport(s2q),
        } : {}),
        ...(fromStore ? {
          calibration: { stats: fromStore.stats, ms: fromStore.ms, inputs: fromStore.samples, ...(prune ? { prune } : {}) },
          calibrationReport: { strategy: 'uniform-t', samples: fromStore.samples, seconds: fromStore.ms / 1000 },
        } : {}),
        quant: args.quant, method: args.method, keepFp: splitPatternList(args.keepFp ?? ''), gpu, modelName: model.name,
        target: args.target,
        ...(model.config?.classes !== undefined ? { classes: model.config.classes } : {}),
      }, args.output);
    } finally {
      closeDevice(gpu);
    }
    emit(args, { output: resolve(args.output), ...report }, () => formatReport(args.output, report));
  },
};

export function formatReport(out: string, r: CompileReport): string {
  const t = r.quantization.totals;
  const rows = [['layer', 'shape', 'bits', 'fp16 B', 'stored B', 'rel err'], ...r.quantization.layers.map((l) => [
    l.layer, l.shape.join('x'), layerPrecision(l), String(l.fp16Bytes), String(l.storedBytes),
    l.relError === null ? '-' : fmt(l.relError),
  ])];
  return [
    `${out}: ${r.model} ${r.quant} (${r.method}) for ${r.adapter}, compiled in ${fmt(r.compileMs / 1000, 3)} s`,
    `pipeline   ${r.pipeline}`,
    ...(r.keepFp.length ? [`kept FP    ${r.keepFp.join(', ')} (--keep-fp)`] : []),
    `kernels    ${r.kernels} distinct, ${r.steps} dispatches per forward`,
    ...methodLines(r.methodReport),
    ...s2qLines(r.calibration),
    ...(r.pruning ? [`prune      kept K/V tiles per block${pruneScope(r.pruning)}: ` +
      r.pruning.map((b) => `${b.block}: ${b.online ? `${b.online.tilesPerRange.join('→')} online` :
        b.ranges.map((k) => k.keptTiles.length).join('→')}/${b.totalTiles} ` +
      `(${fmt(b.keptFraction, 3)})`).join(', ')] : []),
    `weights    FP16 ${t.fp16Bytes} B → ${t.storedBytes} B quantized incl. scales: ${fmt(t.compressionRatio, 3)}x ` +
      `(weights.bin ${r.weightsBytes} B as stored: ${fmt(t.fp16Bytes / r.weightsBytes, 3)}x; FP params are f16 ` +
      'there only where f16 holds them exactly)',
    ...(r.quantization.layers.length ? ['', table(rows)] : []),
  ].join('\n');
}

/** What the prune line's counts are per: timestep ranges, and the queries sharing an online list. */
function pruneScope(blocks: NonNullable<CompileReport['pruning']>): string {
  const online = blocks.find((b) => b.online)?.online;
  const scope = [
    ...(blocks[0]!.ranges.length > 1 ? ['per timestep range, noisiest first'] : []),
    ...(online ? [`online: per ${online.queryTile} queries`] : []),
    ...(online?.refreshRanges && !online.lazy
      ? ['cache=residual: dense ranges (all tiles + the next budget) refresh the residual'] : []),
    ...(online?.lazy ? ['cache=lazy: dense ranges read all tiles and no sparse part (shown as 0); the first pruned step ' +
      'after one selects the lists and takes the residual'] : []),
  ];
  return scope.length ? ` (${scope.join('; ')})` : '';
}

/** `--keep-fp` of compile and eval: layers kept FP on top of the deployment profile (compiler/quant/spec.ts). */
export const KEEP_FP_OPTION = {
  type: 'string',
  describe: "comma-separated layer globs to keep FP, e.g. '**.adaLN_modulation.*' (the lineage's choice); " +
    'by default the adaLN / t_block linears are W4A8',
} as const;

/** S²Q's selection and the distillation loss of each block, first epoch → last. */
function s2qLines(c: CompileReport['calibration']): string[] {
  if (!c) return [];
  if (!Array.isArray(c['blocks'])) {
    return [`calib      ${String(c['strategy'])}: ${String(c['samples'])} samples of the store in ${fmt(Number(c['seconds']), 3)} s`];
  }
  const s = c as unknown as ReturnType<typeof s2qReport> & { blocks: { block: number; firstLoss: number | null; lastLoss: number | null }[] };
  const losses = s.blocks.map((b) => (b.firstLoss === null ? `${b.block}: -` : `${b.block}: ${fmt(b.firstLoss, 3)}→${fmt(b.lastLoss!, 3)}`));
  return [
    `s2q        ${s.strategy} selected ${s.samples} samples; trajectories ${fmt(s.trajectorySeconds as number, 3)} s, ` +
      `distillation ${fmt(s.distillSeconds as number, 3)} s`,
    `s2q loss   per block, first → last epoch: ${losses.join(', ')}`,
  ];
}

/** The method's calibration and what it left online (its notes carry the rotation cost); nothing for rtn. */
function methodLines(m: CompileReport['methodReport']): string[] {
  if (m.method === 'rtn') return [];
  const calib = m.calibrationInputs ? `calibration ${fmt(m.calibrationMs / 1000, 3)} s on ${m.calibrationInputs} inputs` : 'no calibration';
  const lines = [`method     ${m.method}: ${calib}`];
  if (m.smoothingFolded + m.smoothingExplicit) {
    lines.push(`smoothing  ${m.smoothingFolded} folded into quantize prologues, ${m.smoothingExplicit} as own kernels`);
  }
  return [...lines, ...m.notes.map((n) => `note       ${n}`)];
}
