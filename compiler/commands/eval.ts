import type { Argv } from 'yargs';
import { EVAL_SETS, type EvalSet } from '../generate/eval-set.ts';
import { runEval } from '../generate/eval-run.ts';
import { finiteOrString, writeEvalDir } from '../generate/eval-write.ts';
import { createProgress } from '../generate/progress.ts';
import type { Backend } from '../generate/session.ts';
import { compiledClipsPerForward, type CompiledModel, type EvalQuant } from '../eval/eval-source.ts';
import { isCompiledFolder } from '../generate/compiled-session.ts';
import { loadModel, type LoadedModel } from '../models.ts';
import { splitPatternList } from '../quant/spec.ts';
import { COMPILE_METHODS, COMPILE_QUANTS } from '../compile/quant-build.ts';
import { KEEP_FP_OPTION } from './compile.ts';
import { checkSteps } from './generate.ts';
import { parseKernelChoice } from '../../targets/wgsl/select.ts';
import { emit, fmt, KERNEL_OPTION, table, type GlobalArgs, WEIGHTS_OPTION } from './output.ts';

interface EvalArgs extends GlobalArgs {
  model: string;
  set: EvalSet;
  backend: Backend;
  dtype: 'f32' | 'f16';
  steps: number;
  cfg: number;
  batch?: number;
  weights?: string;
  quant?: string;
  method?: string;
  keepFp?: string;
  kernel?: string;
  reference?: string;
  output: string;
}

export const evalCommand = {
  command: 'eval <model>',
  describe: 'generate a fixed set of clips, score them and write result.json, clips.bin and index.html',
  builder: (y: Argv) =>
    y
      .positional('model', {
        type: 'string', describe: 'preset name, IR text file (class-conditioned) or a `vdit compile` folder',
      })
      .option('set', {
        choices: EVAL_SETS, default: 'standard' as EvalSet, describe: 'standard: 48 classes × seeds 0–3; heldout: × seeds 4–7; quick: 8 × 1',
      })
      .option('backend', { choices: ['cpu', 'wgsl'] as const, default: 'wgsl' as const })
      .option('dtype', { choices: ['f32', 'f16'] as const, default: 'f32' as const, describe: 'WGSL storage type' })
      .option('steps', { type: 'number', default: 30, describe: 'Euler steps per clip' })
      .option('cfg', { type: 'number', default: 2.0, describe: 'classifier-free guidance scale (the tiny model is evaluated at 2: bench/results/tiny-fp.md)' })
      .option('batch', {
        type: 'number',
        describe: `clips per forward (graph batch 2K); default ${DEFAULT_BATCH}, a compiled folder's own`,
      })
      .option('quant', {
        type: 'string', describe: `evaluate the quantized build of \`vdit compile\`: ${COMPILE_QUANTS.join('|')}`,
      })
      .option('method', {
        type: 'string', default: 'rtn',
        describe: `quantization method: ${COMPILE_METHODS.join('|')} (smoothquant, viditq and gptq calibrate on 2 ` +
          'seeded FP forwards)',
      })
      .option('keep-fp', KEEP_FP_OPTION)
      .option('weights', WEIGHTS_OPTION)
      .option('kernel', KERNEL_OPTION)
      .option('reference', { type: 'string', describe: 'earlier eval folder to compare with (PSNR/SSIM)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'folder to write' }),
  handler: async (args: EvalArgs) => {
    checkSteps(args.steps);
    const quant = evalQuant(args);
    const kernels = args.kernel !== undefined ? parseKernelChoice(args.kernel) : undefined;
    const { model, batch } = evalModel(args);
    const progress = createProgress('eval', 1, args.json);
    let run;
    try {
      run = await runEval(model, {
        set: args.set, backend: args.backend, dtype: args.dtype, steps: args.steps, cfg: args.cfg,
        batch, ...(args.reference ? { reference: args.reference } : {}),
        ...(quant ? { quant } : {}), ...(kernels ? { kernels } : {}),
        onStep: (done, total, ms) => progress.update(done, ms, total),
      });
    } finally {
      progress.stop();
    }
    const files = writeEvalDir(args.output, run);
    const r = run.result;
    const summary = {
      output: args.output, files, quant: r.settings.quant ?? null, aggregate: r.aggregate, timing: r.timing,
      reference: r.reference,
    };
    emit(args, JSON.parse(JSON.stringify(summary, finiteOrString)), () => formatEval(args.output, r));
  },
};

const DEFAULT_BATCH = 4;

function evalModel(args: EvalArgs): { model: LoadedModel | CompiledModel; batch: number } {
  if (isCompiledFolder(args.model)) {
    if (args.weights) throw new Error(`${args.model} is a compiled folder: its weights are in it, drop --weights`);
    return { model: { compiledDir: args.model }, batch: args.batch ?? compiledClipsPerForward(args.model) };
  }
  const model = loadModel(args.model, args.weights ? { weights: args.weights } : {});
  return { model, batch: args.batch ?? DEFAULT_BATCH };
}

function evalQuant(args: EvalArgs): EvalQuant | undefined {
  if (args.quant === undefined) {
    if (args.keepFp !== undefined) throw new Error('--keep-fp needs --quant (e.g. --quant w4a6)');
    return undefined;
  }
  return { setting: args.quant, method: args.method ?? 'rtn', keepFp: splitPatternList(args.keepFp ?? '') };
}

function formatEval(dir: string, r: Awaited<ReturnType<typeof runEval>>['result']): string {
  const rows = [['metric', 'value'], ...Object.entries(r.aggregate).map(([k, v]) => [k, `${fmt(v as number, 3)}%`])];
  if (r.reference) {
    rows.push(['psnr vs reference', `${fmt(r.reference.psnr, 3)} dB`], ['ssim vs reference', fmt(r.reference.ssim)]);
  }
  const q = r.settings.quant;
  const build = q ? ` ${q.setting} (${q.method}${q.keepFp.length ? `, FP: ${q.keepFp.join(', ')}` : ''}, ` +
    `${fmt(q.compressionRatio, 3)}x smaller weights)` : '';
  return [
    `${r.model}${build}: ${r.clips.length} clips (${r.settings.set}), ${r.settings.steps} steps, ` +
      `cfg ${r.settings.cfg} on ` +
      `${r.settings.backend}${r.device ? ` (${r.device})` : ''}: ${fmt(r.timing.totalMs / 1000, 3)} s ` +
      `(${fmt(r.timing.perStepMs, 3)} ms per step of ${r.settings.batch} clip(s))`,
    table(rows),
    `wrote ${dir}/index.html, result.json, clips.bin`,
  ].join('\n');
}
