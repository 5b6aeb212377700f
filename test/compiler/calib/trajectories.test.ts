import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { StoreReader } from '../../../compiler/calib/store.ts';
import { cpuGraphRunner, recordTrajectories, trajectoryGraph, type TrajectoryOptions } from '../../../compiler/calib/trajectories.ts';
import { runReference } from '../../../runtime/reference.ts';
import { gaussianNoise } from '../../../runtime/noise.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { SMALL, SMALL_WEIGHTS, tempDir } from './helpers.ts';

const opts = (out: string, over: Partial<TrajectoryOptions> = {}): TrajectoryOptions => ({
  cfg: SMALL, prompts: 2, steps: 3, guidance: 2, seed: 5, dtype: 'f32', importance: true, out, ...over,
});

describe('calibration graph', () => {
  it('block inputs are the hidden states before each block, and the velocity is unchanged', () => {
    const cg = trajectoryGraph({ cfg: SMALL, importance: true });
    expect(cg.graph.outputs).toHaveLength(1 + 2 + 2);
    const inputs = {
      x: tensor({ dtype: 'f32', shape: [2, 2, 8, 8, 3] }, gaussianNoise(2 * 2 * 8 * 8 * 3, 3)),
      t: tensor({ dtype: 'f32', shape: [2] }, Float32Array.of(0.7, 0.7)),
      y: tensor({ dtype: 'i32', shape: [2] }, Int32Array.of(4, 48)),
    };
    const outs = runReference(cg.graph, inputs, SMALL_WEIGHTS);
    const [plain] = runReference(buildDiT(SMALL), inputs, SMALL_WEIGHTS);
    expect(Array.from(outs[0]!.data)).toEqual(Array.from(plain!.data));
    const [after0] = runReference(buildDiT(SMALL, { stopAfterBlock: 0 }), inputs, SMALL_WEIGHTS);
    expect(Array.from(outs[2]!.data)).toEqual(Array.from(after0!.data));
    // block 0's input differs from block 1's: the walk stopped at the embedded tokens, not inside block 0
    expect(Array.from(outs[1]!.data)).not.toEqual(Array.from(outs[2]!.data));
    // Σ_j S_j = H·n per batch row: softmax rows sum to one
    for (const s of outs.slice(3)) {
      for (let b = 0; b < 2; b++) {
        const sum = Array.from(s.data.subarray(b * 4, b * 4 + 4)).reduce((a, v) => a + v, 0);
        expect(sum).toBeCloseTo(2 * 4, 4);
      }
    }
  });

  it('rejects importance on factorized blocks with a clear error', () => {
    expect(() => trajectoryGraph({ cfg: { ...SMALL, block: 'factorized' }, importance: true })).toThrow(/factorized/);
  });
});

describe('recordTrajectories (CPU reference)', () => {
  it('streams P × T × 2 records into the store, readable back exactly (f32)', async () => {
    const out = join(tempDir(), 'store');
    const cg = trajectoryGraph({ cfg: SMALL, importance: true });
    const seen: number[] = [];
    const m = await recordTrajectories(opts(out, { onForward: (i) => seen.push(i) }), cg, cpuGraphRunner(cg.graph, SMALL_WEIGHTS));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(m.records).toHaveLength(12);
    expect(m.records.slice(0, 2).map((r) => r.branch)).toEqual(['cond', 'uncond']);
    expect(m.records.map((r) => r.step)).toEqual([0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
    expect(readdirSync(out).sort()).toEqual(['attn-00.f32', 'attn-01.f32', 'block-00.bin', 'block-01.bin', 'manifest.json']);
    const r = StoreReader.open(out);
    // record 2 is prompt 0, step 1, cond: replay that forward from the store's own block-0 input is not possible,
    // so check internal consistency instead: cond and uncond share x_t (same tokens) but differ in class
    const [c, u] = [r.blockInput(0, 2), r.blockInput(0, 3)];
    expect(c.length).toBe(4 * 64);
    expect(Array.from(c)).toEqual(Array.from(u));
    expect(Array.from(r.blockInput(1, 2))).not.toEqual(Array.from(r.blockInput(1, 3)));
    expect(Array.from(r.blockInput(0, 0))).not.toEqual(Array.from(r.blockInput(0, 2)));
    const s = r.importance(1, 5);
    expect(Array.from(s).reduce((a, v) => a + v, 0)).toBeCloseTo(8, 4);
    expect(() => r.blockInput(2, 0)).toThrow(/block 2 out of range/);
    expect(() => r.importance(0, 12)).toThrow(/record 12 out of range/);
  });

  it('f16 storage rounds block inputs to f16 (relative error ≤ 2⁻¹¹)', async () => {
    const [a, b] = [join(tempDir(), 's32'), join(tempDir(), 's16')];
    const cg = trajectoryGraph({ cfg: SMALL, importance: false });
    const run = cpuGraphRunner(cg.graph, SMALL_WEIGHTS);
    await recordTrajectories(opts(a, { prompts: 1, steps: 2, importance: false }), cg, run);
    await recordTrajectories(opts(b, { prompts: 1, steps: 2, importance: false, dtype: 'f16' }), cg, run);
    const [x32, x16] = [StoreReader.open(a).blockInput(1, 3), StoreReader.open(b).blockInput(1, 3)];
    x32.forEach((v, i) => expect(Math.abs(x16[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 1e-7));
    expect(existsSync(join(b, 'attn-00.f32'))).toBe(false);
  });

  it('refuses to replace a folder that is not a store, and bad settings', async () => {
    const dir = join(tempDir(), 'other');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep.txt'), 'x');
    const cg = trajectoryGraph({ cfg: SMALL, importance: false });
    const run = cpuGraphRunner(cg.graph, SMALL_WEIGHTS);
    await expect(recordTrajectories(opts(dir, { importance: false }), cg, run)).rejects.toThrow(/not a calibration store/);
    await expect(recordTrajectories(opts(join(tempDir(), 'x'), { steps: 0 }), cg, run)).rejects.toThrow(/steps must be a positive integer/);
    expect(existsSync(join(dir, 'keep.txt'))).toBe(true);
  });
});
