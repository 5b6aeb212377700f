import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { tinyConfig } from '../../../compiler/model/presets.ts';
import { accumulateRows, collectLinearStats, emptyStats } from '../../../compiler/quant/linear-stats.ts';
import { hashUniform, seededWeights } from '../../../compiler/weights/init.ts';
import { seededInputs } from '../../../compiler/inputs.ts';

describe('accumulateRows', () => {
  it('streams absmax and the upper triangle of XᵀX exactly as a direct sum (rows not a multiple of 4)', () => {
    const [k, rows] = [7, 11];
    const x = Float32Array.from({ length: rows * k }, (_, i) => 2 * hashUniform(3, 1, i) - 1);
    const s = emptyStats(k);
    accumulateRows(s, x.subarray(0, 5 * k));
    accumulateRows(s, x.subarray(5 * k));
    expect(s.rows).toBe(rows);
    for (let i = 0; i < k; i++) {
      let m = 0;
      for (let r = 0; r < rows; r++) m = Math.max(m, Math.abs(x[r * k + i]!));
      expect(s.absMax[i]).toBe(m);
      for (let j = i; j < k; j++) {
        let d = 0;
        for (let r = 0; r < rows; r++) d += x[r * k + i]! * x[r * k + j]!;
        expect(s.xtx[i * k + j]).toBeCloseTo(d, 10);
      }
    }
    const noH = emptyStats(k, false);
    accumulateRows(noH, x);
    expect(noH.xtx.length).toBe(0);
    expect(noH.absMax).toEqual(s.absMax);
    expect(() => accumulateRows(s, new Float32Array(5))).toThrow(/5 values are not rows of 7/);
  });
});

describe('collectLinearStats', () => {
  const g = buildDiT(tinyConfig({
    depth: 1, hidden: 32, heads: 2, ffn: 64, video: [2, 8, 8, 3], timeFreqDim: 32,
    rope: { dims: [4, 6, 6], theta: 10000 }, batch: 1,
  }));
  const w = seededWeights(g, 2);
  it('symmetric XᵀX over all inputs; linears sharing an input share the entry', () => {
    const names = ['blocks.0.attn.q.weight', 'blocks.0.attn.v.weight', 'blocks.0.mlp.fc2.weight'];
    const s = collectLinearStats(g, w, [seededInputs(g, 1), seededInputs(g, 2)], names);
    expect(s.get(names[0]!)).toBe(s.get(names[1]!));
    const fc2 = s.get(names[2]!)!;
    expect(fc2.k).toBe(64);
    // 2 inputs × 4 tokens (patch 2×4×4 over a 2×8×8 clip)
    expect(fc2.rows).toBe(8);
    for (let i = 0; i < fc2.k; i++) for (let j = 0; j < i; j++) expect(fc2.xtx[i * 64 + j]).toBe(fc2.xtx[j * 64 + i]);
    expect(() => collectLinearStats(g, w, [seededInputs(g, 1)], ['nope.weight']))
      .toThrow(/no linear reads weight nope.weight/);
    expect(() => collectLinearStats(g, w, [], names)).toThrow(/no calibration inputs/);
  });
});
