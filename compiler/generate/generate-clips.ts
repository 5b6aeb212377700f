import { gaussianNoise } from '../../runtime/noise.ts';
import { sampleFlow } from '../../runtime/sampler.ts';
import type { DenoiserSession } from './session.ts';

/** One clip to generate. Its initial noise is gaussianNoise(clip size, seed), so (class, seed) fixes the result. */
export interface ClipRequest {
  readonly cls: number;
  readonly seed: number;
}

export interface GenerateOptions {
  readonly steps: number;
  readonly cfg: number;
  /** after every sampler step of every forward batch: (steps done, steps in all, ms of that step) */
  readonly onStep?: (done: number, total: number, ms: number) => void;
}

export interface GeneratedClips {
  /** float32 clips in [−1, 1], in request order */
  readonly clips: Float32Array[];
  /** wall time of every sampler step (one batched forward + update each) */
  readonly stepMs: number[];
  readonly totalMs: number;
}

/**
 * Generates the requests K at a time (K = the session's clips per forward). A short last group is padded with
 * copies of its first request, whose results are dropped: clips never depend on their batch mates.
 */
export async function generateClips(
  session: DenoiserSession, requests: readonly ClipRequest[], opts: GenerateOptions,
): Promise<GeneratedClips> {
  const k = session.clipsPerForward;
  const size = session.clipShape.reduce((a, b) => a * b, 1);
  const groups = Math.ceil(requests.length / k);
  const total = groups * opts.steps;
  const clips: Float32Array[] = [];
  const stepMs: number[] = [];
  const t0 = performance.now();
  for (let g = 0; g < groups; g++) {
    const group = requests.slice(g * k, (g + 1) * k);
    const padded = [...group, ...Array<ClipRequest>(k - group.length).fill(group[0]!)];
    const noise = padded.map((r) => gaussianNoise(size, r.seed));
    const out = await sampleFlow(session.denoise, noise, padded.map((r) => r.cls), {
      steps: opts.steps,
      cfg: opts.cfg,
      nullClass: session.nullClass,
      onStep: (i, _, ms) => {
        stepMs.push(ms);
        opts.onStep?.(g * opts.steps + i, total, ms);
      },
    });
    clips.push(...out.slice(0, group.length));
  }
  return { clips, stepMs, totalMs: performance.now() - t0 };
}
