import { mulberry32 } from '../data/prng.ts';
import type { Candidate, SdsScores } from './sds.ts';

/**
 * Calibration-sample selection strategies: SDS and the comparisons of S²Q-VDiT §3.1 / Fig. 3 / Table 3, all picking
 * the same K (default 40) so their quality can be compared. Each returns candidate indices into scores.candidates.
 *   sds          top K by C̄_diff · C̄_quant (Eq. 8)
 *   diff-only    top K by C̄_diff
 *   quant-only   top K by C̄_quant
 *   one-prompt   prompt 0's trajectory only: all its steps when T ≤ K, else K uniformly spaced steps
 *   uniform-t    K uniformly spaced (prompt, step) slots of the pool in prompt-major order (uniform timesteps,
 *                prompts cycled)
 *   random-t     K candidates drawn without replacement by mulberry32(seed)
 * Ties in the top-K strategies go to the lower candidate index, so selections are deterministic.
 */
export const STRATEGIES = ['sds', 'one-prompt', 'uniform-t', 'random-t', 'diff-only', 'quant-only'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const DEFAULT_K = 40;

export function isStrategy(s: string): s is Strategy {
  return (STRATEGIES as readonly string[]).includes(s);
}

export function selectSamples(strategy: Strategy, scores: SdsScores, k = DEFAULT_K, seed = 0): number[] {
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`select: K must be a positive integer, got ${k}`);
  const n = scores.candidates.length;
  if (n === 0) throw new Error('select: the candidate pool is empty');
  const kk = Math.min(k, n);
  switch (strategy) {
    case 'sds': return topK(scores.score, kk);
    case 'diff-only': return topK(scores.diffNorm, kk);
    case 'quant-only': return topK(scores.quantNorm, kk);
    case 'one-prompt': return onePrompt(scores.candidates, kk);
    case 'uniform-t': return spaced(n, kk);
    case 'random-t': return randomPick(n, kk, seed);
    default: throw new Error(`select: unknown strategy '${String(strategy)}' (have ${STRATEGIES.join(', ')})`);
  }
}

function topK(v: readonly number[], k: number): number[] {
  return v.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);
}

/** k indices spread evenly over [0, n): round((i + 0.5) · n / k). */
function spaced(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.min(n - 1, Math.floor(((i + 0.5) * n) / k)));
}

function onePrompt(c: readonly Candidate[], k: number): number[] {
  const first = c.map((x, i) => [x, i] as const).filter(([x]) => x.prompt === c[0]!.prompt).map(([, i]) => i);
  return spaced(first.length, Math.min(k, first.length)).map((j) => first[j]!);
}

function randomPick(n: number, k: number, seed: number): number[] {
  const r = mulberry32(seed >>> 0);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(r.next() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}
