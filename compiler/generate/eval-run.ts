import { className } from '../data/classes.ts';
import type { QuantBuild } from '../compile/quant-build.ts';
import type { KernelChoice } from '../../targets/wgsl/select.ts';
import { openEvalSource, type CompiledModel, type EvalQuant } from '../eval/eval-source.ts';
import { aggregate, psnr, scoreClip, ssim, type AggregateScores, type ClipScores } from '../eval/metrics.ts';
import type { LoadedModel } from '../models.ts';
import { CLIPS_BIN, clipKey, readReferenceClips } from './clips-bin.ts';
import { evalRequests, type EvalSet } from './eval-set.ts';
import { generateClips } from './generate-clips.ts';
import type { Backend } from './session.ts';
import type { ClipShape } from '../video/frames.ts';

export interface EvalOptions {
  readonly set: EvalSet;
  readonly backend: Backend;
  readonly dtype: 'f32' | 'f16';
  readonly steps: number;
  readonly cfg: number;
  /** clips per forward (K) */
  readonly batch: number;
  /** an earlier eval folder (result.json + clips.bin) to compare with by PSNR/SSIM */
  readonly reference?: string;
  /** evaluate the quantized build `vdit compile` would write (RTN weights, qgemm), not the FP graph */
  readonly quant?: EvalQuant;
  /** forced WGSL kernel variants by op (recorded in result.json) */
  readonly kernels?: KernelChoice;
  readonly onStep?: (done: number, total: number, ms: number) => void;
}

export interface ClipResult {
  readonly index: number;
  readonly class: number;
  readonly className: string;
  readonly seed: number;
  readonly scores: ClipScores;
  readonly psnr?: number;
  readonly ssim?: number;
}

/** What result.json holds. */
export interface EvalResult {
  readonly model: string;
  readonly weights: string;
  /** quant: the build evaluated (setting, method, --keep-fp, pipeline, compression ratio); absent for FP */
  readonly settings: Omit<EvalOptions, 'onStep' | 'quant'> & {
    readonly nullClass: number;
    readonly quant?: QuantBuild;
  };
  readonly device?: string;
  readonly clipShape: ClipShape;
  readonly clipsBin: { readonly file: string; readonly dtype: 'f32'; readonly layout: string };
  readonly timing: {
    readonly totalMs: number; readonly perStepMs: number; readonly perClipMs: number; readonly forwards: number;
  };
  readonly aggregate: AggregateScores;
  /** mean PSNR (dB, over finite values) and SSIM against the reference, when one was given */
  readonly reference?: { readonly dir: string; readonly psnr: number; readonly ssim: number; readonly matched: number };
  readonly clips: readonly ClipResult[];
}

export interface EvalRun {
  readonly result: EvalResult;
  readonly clips: readonly Float32Array[];
}

/**
 * Generates every clip of the set, scores it, and compares it with the reference run when given. The model is a
 * preset or IR model (FP, or its quantized build with opts.quant) or a compiled folder.
 */
export async function runEval(model: LoadedModel | CompiledModel, opts: EvalOptions): Promise<EvalRun> {
  const requests = evalRequests(opts.set);
  const source = await openEvalSource(model, opts);
  const { session } = source;
  let gen;
  let ref;
  try {
    ref = opts.reference ? readReferenceClips(opts.reference, session.clipShape) : undefined;
    gen = await generateClips(session, requests, {
      steps: opts.steps, cfg: opts.cfg, ...(opts.onStep ? { onStep: opts.onStep } : {}),
    });
  } finally {
    session.close();
  }
  const clips = requests.map((r, i): ClipResult => {
    const clip = gen.clips[i]!;
    const other = ref?.get(clipKey(r));
    const fidelity = other ? { psnr: psnr(clip, other), ssim: ssim(clip, other) } : {};
    const scores = scoreClip(clip, r.cls);
    return { index: i, class: r.cls, className: className(r.cls), seed: r.seed, scores, ...fidelity };
  });
  const { onStep: _, quant: __, ...settings } = opts;
  const result: EvalResult = {
    model: source.name,
    weights: source.weightsFrom,
    settings: {
      ...settings, batch: session.clipsPerForward, nullClass: session.nullClass,
      ...(source.quant ? { quant: source.quant } : {}),
    },
    ...(session.device ? { device: session.device } : {}),
    clipShape: session.clipShape,
    clipsBin: { file: CLIPS_BIN, dtype: 'f32', layout: `little-endian [${[requests.length, ...session.clipShape]}]` },
    timing: {
      totalMs: gen.totalMs,
      perStepMs: mean(gen.stepMs),
      perClipMs: gen.totalMs / requests.length,
      forwards: gen.stepMs.length,
    },
    aggregate: aggregate(clips.map((c) => c.scores)),
    ...(ref && opts.reference ? { reference: referenceSummary(opts.reference, clips) } : {}),
    clips,
  };
  return { result, clips: gen.clips };
}

function referenceSummary(dir: string, clips: readonly ClipResult[]): NonNullable<EvalResult['reference']> {
  const matched = clips.filter((c) => c.psnr !== undefined);
  if (matched.length === 0) throw new Error(`reference ${dir} holds none of this set's (class, seed) clips`);
  const finite = matched.map((c) => c.psnr!).filter(Number.isFinite);
  return {
    dir,
    psnr: finite.length ? mean(finite) : Infinity,
    ssim: mean(matched.map((c) => c.ssim!)),
    matched: matched.length,
  };
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}
