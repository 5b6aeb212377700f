import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../compiler/data/prng.ts';
import { lambdaFromImportance, lambdasForRecords } from '../../../compiler/calib/importance.ts';
import { StoreReader } from '../../../compiler/calib/store.ts';
import { cpuGraphRunner, recordTrajectories, trajectoryGraph } from '../../../compiler/calib/trajectories.ts';
import { SMALL, SMALL_WEIGHTS, tempDir } from './helpers.ts';

describe('λ from attention importance (Eq. 11)', () => {
  const r = mulberry32(21);
  const s = Float32Array.from({ length: 50 }, () => r.range(0, 5));

  it('spans [λ_min, 1] exactly and is monotone in S', () => {
    for (const lambdaMin of [0.5, 0.2]) {
      const l = lambdaFromImportance(s, { lambdaMin });
      expect(Math.min(...l)).toBeCloseTo(lambdaMin, 6);
      expect(Math.max(...l)).toBeCloseTo(1, 6);
      for (let i = 0; i < s.length; i++) {
        for (let j = 0; j < s.length; j++) if (s[i]! < s[j]!) expect(l[i]!).toBeLessThanOrEqual(l[j]!);
      }
    }
  });

  it('default λ_min 0.5; text tokens get 1 and stay out of the min–max', () => {
    const t = Float32Array.of(100, -100, 1, 2, 3);
    expect(Array.from(lambdaFromImportance(t, { textTokens: 2 }))).toEqual([1, 1, 0.5, 0.75, 1]);
    expect(Array.from(lambdaFromImportance(Float32Array.of(2, 2, 2)))).toEqual([1, 1, 1]);
  });

  it('rejects bad settings and non-finite S', () => {
    expect(() => lambdaFromImportance(s, { lambdaMin: 1.5 })).toThrow(/λ_min must be in \[0, 1\]/);
    expect(() => lambdaFromImportance(s, { textTokens: 50 })).toThrow(/text tokens/);
    expect(() => lambdaFromImportance(Float32Array.of(1, NaN))).toThrow(/not finite/);
  });

  it('per block and record from a recorded store', async () => {
    const out = join(tempDir(), 'store');
    const cg = trajectoryGraph({ cfg: SMALL, importance: true });
    await recordTrajectories({ cfg: SMALL, prompts: 1, steps: 2, guidance: 2, seed: 2, dtype: 'f16', importance: true, out },
      cg, cpuGraphRunner(cg.graph, SMALL_WEIGHTS));
    const store = StoreReader.open(out);
    const l = lambdasForRecords(store, [0, 3]);
    expect(l).toHaveLength(2);
    expect(l[1]!.length).toBe(2 * 4);
    expect(Array.from(l[1]!.subarray(4))).toEqual(Array.from(lambdaFromImportance(store.importance(1, 3))));
    expect(Math.min(...l[0]!)).toBeCloseTo(0.5, 6);
  });
});
