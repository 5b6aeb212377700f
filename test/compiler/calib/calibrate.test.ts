import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrate, type CalibrateOptions } from '../../../compiler/calib/calibrate.ts';
import { lambdaFromImportance } from '../../../compiler/calib/importance.ts';
import { StoreReader } from '../../../compiler/calib/store.ts';
import { hasGpu } from '../../targets/wgsl/harness.ts';
import { SMALL, SMALL_WEIGHTS, tempDir } from './helpers.ts';

const base = (out: string, over: Partial<CalibrateOptions> = {}): CalibrateOptions => ({
  cfg: SMALL, weights: SMALL_WEIGHTS, model: 'tiny-calib', backend: 'cpu', prompts: 2, steps: 3, guidance: 2, seed: 4,
  dtype: 'f32', out, strategy: 'sds', k: 3, lambdaMin: 0.5, ...over,
});

describe('calibrate (CPU reference)', () => {
  it('writes the store, sds.json with the top-K selection, and λ per block for both branches', async () => {
    const out = join(tempDir(), 'c');
    const res = await calibrate(base(out));
    const sds = JSON.parse(readFileSync(join(out, 'sds.json'), 'utf8'));
    expect(sds.candidates).toHaveLength(6);
    expect(sds.selected.map((s: { candidate: number }) => s.candidate)).toEqual(res.selected);
    const scores = sds.candidates.map((c: { score: number }) => c.score);
    expect(scores[res.selected[0]!]).toBe(Math.max(...scores));
    const store = StoreReader.open(out);
    const lam = new Float32Array(Uint8Array.from(readFileSync(join(out, 'lambda-01.f32'))).buffer);
    expect(lam.length).toBe(3 * 2 * 4);
    // second selected sample's uncond branch
    const c = res.scores.candidates[res.selected[1]!]!;
    expect(Array.from(lam.subarray(3 * 4, 4 * 4))).toEqual(Array.from(lambdaFromImportance(store.importance(1, c.uncond))));
  });
});

describe.skipIf(!hasGpu)('calibrate (WGSL on Dawn)', () => {
  it('records the same block inputs and importance as the CPU reference (rtol 1e-3, atol 1e-4)', async () => {
    const [a, b] = [join(tempDir(), 'cpu'), join(tempDir(), 'gpu')];
    await calibrate(base(a, { prompts: 1, steps: 2, k: 1 }));
    const res = await calibrate(base(b, { prompts: 1, steps: 2, k: 1, backend: 'wgsl' }));
    expect(res.device).toBeDefined();
    expect(existsSync(join(b, 'lambda-00.f32'))).toBe(true);
    const [sa, sb] = [StoreReader.open(a), StoreReader.open(b)];
    for (let blk = 0; blk < 2; blk++) {
      for (let r = 0; r < 4; r++) {
        const pairs: [Float32Array, Float32Array][] = [[sa.blockInput(blk, r), sb.blockInput(blk, r)], [sa.importance(blk, r), sb.importance(blk, r)]];
        for (const [x, y] of pairs) x.forEach((v, i) => expect(Math.abs(y[i]! - v)).toBeLessThanOrEqual(1e-4 + 1e-3 * Math.abs(v)));
      }
    }
  });
});
