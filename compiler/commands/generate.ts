import type { Argv } from 'yargs';
import { className, classId } from '../data/classes.ts';
import { floatToClip } from '../data/moving-shapes.ts';
import { generateClips } from '../generate/generate-clips.ts';
import { createProgress } from '../generate/progress.ts';
import { isCompiledFolder, openCompiledDenoiser } from '../generate/compiled-session.ts';
import { openDenoiser, type Backend } from '../generate/session.ts';
import { loadModel } from '../models.ts';
import { writeFileAtomic } from '../video/atomic.ts';
import { encodeGif, GIF_DEFAULTS } from '../video/gif.ts';
import { writePngFrames } from '../video/png.ts';
import { parseKernelChoice } from '../../targets/wgsl/select.ts';
import { emit, fmt, KERNEL_OPTION, type GlobalArgs, WEIGHTS_OPTION } from './output.ts';

interface GenerateArgs extends GlobalArgs {
  model: string;
  class: string;
  seed: number;
  steps: number;
  cfg: number;
  backend: Backend;
  dtype: 'f32' | 'f16';
  weights?: string;
  kernel?: string;
  output: string;
  frames?: string;
  scale: number;
}

export const generateCommand = {
  command: 'generate <model>',
  describe: 'sample one clip (Euler flow matching with classifier-free guidance) and write it as an animated GIF',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', describe: 'preset name, IR text file (class-conditioned, batch 2) or a `vdit compile` folder' })
      .option('class', { type: 'string', demandOption: true, describe: 'id 0..47 or name, e.g. "red circle right"' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the initial noise' })
      .option('steps', { type: 'number', default: 30, describe: 'Euler steps from t = 1 to t = 0' })
      .option('cfg', { type: 'number', default: 2.0, describe: 'classifier-free guidance scale (the tiny model is evaluated at 2: bench/results/tiny-fp.md)' })
      .option('backend', { choices: ['cpu', 'wgsl', 'cuda'] as const, default: 'wgsl' as const, describe: 'cuda: needs nvcc and an NVIDIA GPU (a folder: compiled with --target cuda)' })
      .option('dtype', { choices: ['f32', 'f16'] as const, default: 'f32' as const, describe: 'WGSL storage type' })
      .option('weights', WEIGHTS_OPTION)
      .option('kernel', KERNEL_OPTION)
      .option('output', { alias: 'o', type: 'string', default: 'clip.gif', describe: 'GIF to write' })
      .option('frames', { type: 'string', describe: 'also write every frame as PNG into this folder' })
      .option('scale', { type: 'number', default: GIF_DEFAULTS.scale, describe: 'nearest-neighbour upscale factor' }),
  handler: async (args: GenerateArgs) => {
    const cls = classId(args.class);
    checkSteps(args.steps);
    const session = isCompiledFolder(args.model) ? await openCompiledDenoiser(args.model, args.backend)
      : await openDenoiser(loadModel(args.model, args.weights ? { weights: args.weights } : {}),
        {
          backend: args.backend, dtype: args.dtype,
          ...(args.kernel !== undefined ? { kernels: parseKernelChoice(args.kernel) } : {}),
        });
    const progress = createProgress('generate', args.steps, args.json);
    let run;
    try {
      run = await generateClips(session, [{ cls, seed: args.seed }], {
        steps: args.steps, cfg: args.cfg, onStep: (i, _, ms) => progress.update(i, ms),
      });
    } finally {
      progress.stop();
      session.close();
    }
    const bytes = floatToClip(run.clips[0]!);
    writeFileAtomic(args.output, encodeGif(bytes, session.clipShape, { scale: args.scale }));
    if (args.frames) writePngFrames(args.frames, bytes, session.clipShape, args.scale);
    const perStepMs = run.stepMs.reduce((a, b) => a + b, 0) / run.stepMs.length;
    const result = {
      output: args.output, class: cls, className: className(cls), seed: args.seed, steps: args.steps, cfg: args.cfg,
      backend: args.backend, timeMs: run.totalMs, perStepMs, ...(args.frames ? { frames: args.frames } : {}),
      ...(session.device ? { device: session.device } : {}),
    };
    emit(args, result, () =>
      `${result.output}: class ${cls} (${result.className}), seed ${args.seed}, ${args.steps} steps, cfg ${args.cfg} ` +
      `on ${args.backend}${session.device ? ` (${session.device})` : ''}: ${fmt(run.totalMs / 1000, 3)} s ` +
      `(${fmt(perStepMs, 3)} ms/step)`);
  },
};

export function checkSteps(steps: number): void {
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= 10_000)) {
    throw new Error(`--steps must be an integer in [1, 10000], got ${steps}`);
  }
}
