import { describe, expect, it } from 'vitest';
import { scheduleRow } from '../../ir/infer-sparse-attention.ts';
import { edgeBounds, rangeSteps, samplerBounds, scheduleEdges } from '../../passes/prune-schedule.ts';
import { flowTimestep } from '../../runtime/sampler.ts';

describe('timestep schedule of --prune schedule=…', () => {
  it('splits the steps into nearly equal ranges, bounds halfway between the timesteps either side', () => {
    expect(scheduleEdges(3, 30)).toEqual([0, 10, 20, 30]);
    expect(scheduleEdges(4, 30)).toEqual([0, 8, 15, 23, 30]);
    expect(edgeBounds([0, 2, 4], (s) => [1, 0.8, 0.5, 0.1][s]!)).toEqual([0.65]);
    // the default sampler: t_i = 1 − i/30, range edges at steps 10 and 20
    const b = samplerBounds(3);
    expect(b[0]).toBeCloseTo(1 - 9.5 / 30, 12);
    expect(b[1]).toBeCloseTo(1 - 19.5 / 30, 12);
    expect(samplerBounds(1)).toEqual([]);
    expect(samplerBounds(2, 4)).toEqual([(0.75 + 0.5) / 2]);
    expect(() => samplerBounds(31)).toThrow(/a schedule of 31 ranges needs 1..30/);
    expect(() => samplerBounds(0)).toThrow(/needs 1..30/);
  });

  it('puts every step of the sampler it was derived for in its own range, also as f32 timesteps', () => {
    for (const ranges of [2, 3, 4, 7]) {
      const bounds = samplerBounds(ranges);
      const edges = scheduleEdges(ranges, 30);
      for (let i = 0; i < 30; i++) {
        const want = edges.findIndex((e, r) => i >= e && i < edges[r + 1]!);
        expect(scheduleRow(Math.fround(flowTimestep(i, 30)), bounds)).toBe(want);
      }
      expect(rangeSteps(bounds)).toEqual(edges.slice(1).map((e, r) => e - edges[r]!));
    }
    // another step count still splits by noise level: 50 steps over the 30-step bounds
    expect(rangeSteps(samplerBounds(2), 50)).toEqual([25, 25]);
  });
});
