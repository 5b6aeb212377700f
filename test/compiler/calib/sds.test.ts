import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../compiler/data/prng.ts';
import { cDiff, frobeniusXtX, minMax, scoreSds, spectralNormXtX } from '../../../compiler/calib/sds.ts';
import { StoreReader } from '../../../compiler/calib/store.ts';
import { selectSamples, STRATEGIES } from '../../../compiler/calib/strategies.ts';
import { cpuGraphRunner, recordTrajectories, trajectoryGraph } from '../../../compiler/calib/trajectories.ts';
import { SMALL, SMALL_WEIGHTS, tempDir } from './helpers.ts';

function randomMatrix(n: number, d: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n * d }, () => r.range(-1, 1));
}

describe('spectralNormXtX (power iteration, ≤ 20 iterations, rel. tol 1e-4)', () => {
  it('diagonal X: ‖XᵀX‖₂ = max x_ii² (rel. 1e-3)', () => {
    const d = 6;
    const diag = [0.5, -3, 1, 2.9, 0.1, 1.5];
    const x = new Float32Array(d * d);
    diag.forEach((v, i) => (x[i * d + i] = v));
    const { value } = spectralNormXtX(x, d, d, { iterations: 200, tol: 1e-9 });
    expect(Math.abs(value - 9) / 9).toBeLessThan(1e-3);
  });

  it('rank-1 X = u wᵀ: ‖XᵀX‖₂ = ‖u‖²‖w‖², exact after 2 iterations, stopped by the 3rd (rel. 1e-6)', () => {
    const r = mulberry32(3);
    const [n, d] = [9, 5];
    const u = Array.from({ length: n }, () => r.range(-2, 2));
    const w = Array.from({ length: d }, () => r.range(-2, 2));
    const x = Float64Array.from({ length: n * d }, (_, k) => u[Math.floor(k / d)]! * w[k % d]!);
    const want = u.reduce((a, v) => a + v * v, 0) * w.reduce((a, v) => a + v * v, 0);
    const res = spectralNormXtX(x, n, d);
    expect(Math.abs(res.value - want) / want).toBeLessThan(1e-6);
    expect(res.iterations).toBeLessThanOrEqual(3);
  });

  it('random X: between ‖XᵀX‖_F / √d and ‖XᵀX‖_F; rejects a wrong size', () => {
    const x = randomMatrix(30, 8, 9);
    const s = spectralNormXtX(x, 30, 8, { iterations: 100, tol: 1e-8 }).value;
    const f = frobeniusXtX(x, 30, 8);
    expect(s).toBeLessThanOrEqual(f * (1 + 1e-9));
    expect(s).toBeGreaterThanOrEqual(f / Math.sqrt(8));
    expect(() => spectralNormXtX(x, 30, 9)).toThrow(/\[30, 9\] matrix/);
  });
});

describe('C_diff and min–max', () => {
  it('C_diff = ‖x − y‖² / ‖x‖²', () => {
    expect(cDiff([3, 4], [3, 0])).toBeCloseTo(16 / 25, 12);
    expect(cDiff([0, 0], [1, 1])).toBe(0);
    expect(() => cDiff([1], [1, 2])).toThrow(/1 vs 2/);
  });
  it('min–max maps into [0, 1]; a constant pool maps to ones', () => {
    expect(minMax([2, 4, 3])).toEqual([0, 1, 0.5]);
    expect(minMax([7, 7])).toEqual([1, 1]);
  });
});

describe('SDS over a recorded store', async () => {
  const out = join(tempDir(), 'store');
  const cg = trajectoryGraph({ cfg: SMALL, importance: false });
  await recordTrajectories({ cfg: SMALL, prompts: 3, steps: 4, guidance: 2, seed: 1, dtype: 'f32', importance: false, out },
    cg, cpuGraphRunner(cg.graph, SMALL_WEIGHTS));
  const store = StoreReader.open(out);
  const scores = scoreSds(store);

  it('scores every (prompt, step) with the adopted pairing and normalisation', () => {
    expect(scores.candidates).toHaveLength(12);
    const c = scores.candidates;
    expect(c[0]).toMatchObject({ prompt: 0, step: 0, cond: 0, uncond: 1 });
    // step 1 pairs with step 2; the last step (3) with its predecessor (2)
    const x = (i: number) => store.blockInput(0, c[i]!.cond);
    expect(scores.diff[1]).toBeCloseTo(cDiff(x(1), x(2)), 10);
    expect(scores.diff[3]).toBeCloseTo(cDiff(x(3), x(2)), 10);
    expect(scores.quant[5]).toBeCloseTo(spectralNormXtX(x(5), 4, 64).value, 6);
    expect(Math.min(...scores.diffNorm)).toBe(0);
    expect(Math.max(...scores.quantNorm)).toBe(1);
    scores.score.forEach((s, i) => expect(s).toBeCloseTo(scores.diffNorm[i]! * scores.quantNorm[i]!, 12));
  });

  it('each strategy returns K distinct candidate ids by its rule', () => {
    const k = 5;
    for (const st of STRATEGIES) {
      const sel = selectSamples(st, scores, k, 3);
      expect(new Set(sel).size).toBe(sel.length);
      expect(sel.every((i) => i >= 0 && i < 12)).toBe(true);
      expect(sel.length).toBe(st === 'one-prompt' ? 4 : k);
    }
    const best = selectSamples('sds', scores, k);
    const rest = scores.score.filter((_, i) => !best.includes(i));
    expect(Math.min(...best.map((i) => scores.score[i]!))).toBeGreaterThanOrEqual(Math.max(...rest));
    expect(selectSamples('diff-only', scores, 1)[0]).toBe(scores.diffNorm.indexOf(1));
    expect(selectSamples('quant-only', scores, 1)[0]).toBe(scores.quantNorm.indexOf(1));
    expect(selectSamples('one-prompt', scores, 2).map((i) => scores.candidates[i]!.prompt)).toEqual([0, 0]);
    expect(selectSamples('uniform-t', scores, 3)).toEqual([2, 6, 10]);
    expect(selectSamples('random-t', scores, 4, 1)).toEqual(selectSamples('random-t', scores, 4, 1));
    expect(selectSamples('random-t', scores, 4, 1)).not.toEqual(selectSamples('random-t', scores, 4, 2));
    expect(() => selectSamples('sds', scores, 0)).toThrow(/K must be a positive integer/);
  });
});
