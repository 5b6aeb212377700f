import type { Argv } from 'yargs';
import { calibrate } from '../calib/calibrate.ts';
import { DEFAULT_LAMBDA_MIN } from '../calib/importance.ts';
import { DEFAULT_K, STRATEGIES, type Strategy } from '../calib/strategies.ts';
import { createProgress } from '../generate/progress.ts';
import { loadModel } from '../models.ts';
import { emit, fmt, type GlobalArgs, WEIGHTS_OPTION } from './output.ts';

interface CalibArgs extends GlobalArgs {
  model: string;
  prompts: number;
  steps: number;
  cfg: number;
  seed: number;
  backend: 'cpu' | 'wgsl';
  dtype: 'f16' | 'f32';
  k: number;
  strategy: Strategy;
  lambdaMin: number;
  norm: 'spectral' | 'frobenius';
  weights?: string;
  output: string;
}

export const calibCommand = {
  command: 'calib <model>',
  describe: 'S²Q-VDiT calibration data: FP trajectories (block inputs, attention importance), SDS selection, λ per block',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', describe: 'preset name (class-conditioned)' })
      .option('prompts', { type: 'number', default: 10, describe: 'prompts (random classes) in the candidate pool' })
      .option('steps', { type: 'number', default: 30, describe: 'Euler steps per prompt; every step is a candidate' })
      .option('cfg', { type: 'number', default: 2.0, describe: 'classifier-free guidance scale' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the classes, the noise and random-t' })
      .option('backend', { choices: ['cpu', 'wgsl'] as const, default: 'wgsl' as const })
      .option('dtype', { choices: ['f16', 'f32'] as const, default: 'f16' as const, describe: 'storage of block inputs' })
      .option('k', { type: 'number', default: DEFAULT_K, describe: 'samples to select' })
      .option('strategy', { choices: STRATEGIES, default: 'sds' as const, describe: 'selection strategy' })
      .option('lambda-min', { type: 'number', default: DEFAULT_LAMBDA_MIN, describe: 'λ_min of the token weights (Eq. 11)' })
      .option('norm', { choices: ['spectral', 'frobenius'] as const, default: 'spectral' as const, describe: 'C_quant norm' })
      .option('weights', WEIGHTS_OPTION)
      .option('output', { alias: 'o', type: 'string', default: 'calib', describe: 'store folder to write' }),
  handler: async (args: CalibArgs) => {
    const model = loadModel(args.model, args.weights ? { weights: args.weights } : {});
    if (!model.config) throw new Error(`calib needs a preset model (${args.model} is an IR file)`);
    const fwd = createProgress('trajectories', args.prompts * args.steps, args.json);
    let sds: ReturnType<typeof createProgress> | undefined;
    const t0 = performance.now();
    let res;
    try {
      res = await calibrate({
        cfg: model.config, weights: model.weights, model: model.name, backend: args.backend, prompts: args.prompts,
        steps: args.steps, guidance: args.cfg, seed: args.seed, dtype: args.dtype, out: args.output,
        strategy: args.strategy, k: args.k, lambdaMin: args.lambdaMin, norm: args.norm,
        onForward: (i, _, ms) => fwd.update(i, ms),
        onScore: (i, n) => {
          if (!sds) {
            fwd.stop();
            sds = createProgress('SDS scores', n, args.json);
          }
          sds.update(i, 0);
        },
      });
    } finally {
      fwd.stop();
      sds?.stop();
    }
    const m = res.manifest;
    const result = {
      output: args.output, model: model.name, backend: args.backend, ...(res.device ? { device: res.device } : {}),
      records: m.records.length, candidates: res.scores.candidates.length, strategy: args.strategy,
      selected: res.selected.map((i) => res.scores.candidates[i]!), importance: m.keys !== undefined,
      seconds: (performance.now() - t0) / 1000,
    };
    emit(args, result, () =>
      `${args.output}: ${m.records.length} records (${args.prompts} prompts × ${args.steps} steps × cond/uncond), ` +
      `${m.blocks} blocks of [${m.tokens}, ${m.channels}] ${m.dtype}; ${args.strategy} selected ${res.selected.length} ` +
      `of ${res.scores.candidates.length}` + (m.keys !== undefined ? `; λ ∈ [${args.lambdaMin}, 1] per block written` : '') +
      ` in ${fmt(result.seconds, 3)} s`);
  },
};
