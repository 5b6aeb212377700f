import { describe, expect, it } from 'vitest';
import { parsePrune } from '../../compiler/commands/compile-calibration.ts';
import {
  kindCounts, pruneValue, SCHEDULE_STEPS, scheduleLabel, STEP_SCHEDULES, stepKeeps, stepKinds,
} from '../../bench/step-schedules.ts';

describe('bench/step-schedules', () => {
  it('expands every schedule to one keep per sampler step, dense first and pruned last', () => {
    for (const s of STEP_SCHEDULES) {
      const keeps = stepKeeps(s);
      expect(keeps).toHaveLength(SCHEDULE_STEPS);
      expect(keeps[0]).toBe(1);
      expect(keeps.at(-1)).toBe(s.keep);
    }
    expect(() => stepKeeps({ name: 'x', runs: '4D 3p', keep: 0.25 })).toThrow(/7 steps, not 30/);
    expect(() => stepKeeps({ name: 'x', runs: '4D 3q', keep: 0.25 })).toThrow(/run '3q'/);
  });

  it('writes the --prune value the CLI parses back to the same keeps', () => {
    const s = STEP_SCHEDULES.find((x) => x.name === 'fz30w6r4e')!;
    expect(pruneValue(s)).toBe('schedule=1x6/0.125x4/1/0.125x4/1/0.125x4/1/0.125x4/1/0.125x4,select=online,cache=frozen');
    for (const x of STEP_SCHEDULES) {
      const parsed = parsePrune(pruneValue(x));
      expect(parsed.keeps).toEqual(stepKeeps(x));
      expect(parsed).toMatchObject({ online: true, residual: x.lazy ? 'lazy' : 'frozen', ...(x.qtile ? { qtile: x.qtile } : {}) });
    }
  });

  it('names each step\'s kind as the frozen or lazy plan runs it', () => {
    expect(stepKinds([1, 1, 0.25, 1, 0.25, 0.25])).toEqual(['dense', 'refresh', 'pruned', 'refresh', 'pruned', 'pruned']);
    expect(stepKinds([1, 1, 0.25, 1, 0.25, 0.25], true)).toEqual(['dense', 'dense', 'select', 'dense', 'select', 'pruned']);
    expect(kindCounts(STEP_SCHEDULES.find((x) => x.name === 'fz30C-.25')!)).toEqual({ dense: 3, refresh: 6, select: 0, pruned: 21 });
    expect(kindCounts(STEP_SCHEDULES.find((x) => x.name === 'lz30w7r3e')!)).toEqual({ dense: 10, refresh: 0, select: 4, pruned: 16 });
    expect(pruneValue(STEP_SCHEDULES.find((x) => x.name === 'lz30w7r3e')!)).toContain(',cache=lazy');
    expect(scheduleLabel({ name: 'x', runs: '6D 4p D 20p', keep: 0.125, qtile: 128 }))
      .toBe('steps 0–5 dense, then 4p D 20p at 0.125, query tiles of 128');
  });
});
