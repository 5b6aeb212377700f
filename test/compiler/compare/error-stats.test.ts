import { describe, expect, it } from 'vitest';
import { errorStats } from '../../../compiler/compare/error-stats.ts';
import { EXACT } from '../../../compiler/compare/tolerance.ts';
import { tensor } from '../../../runtime/tensor.ts';

const f32 = (...v: number[]) => tensor({ dtype: 'f32', shape: [v.length] }, Float32Array.from(v));
const TOL = { rtol: 1e-3, atol: 1e-4, why: 'test' };

describe('errorStats', () => {
  it('holds every element to atol + rtol·|ref| and reports the worst absolute and relative error', () => {
    const s = errorStats(f32(1.0005, -2, 0.5), f32(1, -2.001, 0.5), TOL);
    expect(s.maxAbsError).toBeCloseTo(1e-3, 6);
    expect(s.maxRelError).toBeCloseTo(5e-4, 6);
    expect([s.ok, s.violations, s.elements]).toEqual([true, 0, 3]);
    const off = errorStats(f32(1.01, -2, 0.5), f32(1, -2, 0.5), TOL);
    expect([off.ok, off.violations]).toEqual([false, 1]);
  });

  it('leaves near-zero references out of the relative error (the absolute bound covers them)', () => {
    const s = errorStats(f32(1e-6, 100), f32(1e-9, 100), TOL);
    expect(s.maxRelError).toBe(0);
    expect(s.maxAbsError).toBeCloseTo(1e-6, 8);
  });

  it('NaN on both sides matches; NaN or ∞ against a finite reference is an infinite error', () => {
    expect(errorStats(f32(NaN, 1), f32(NaN, 1), TOL).ok).toBe(true);
    const s = errorStats(f32(NaN, Infinity), f32(1, 1), TOL);
    expect([s.maxAbsError, s.violations]).toEqual([Infinity, 2]);
  });

  it('EXACT compares integers element for element; a shape mismatch is an error', () => {
    const i8 = (...v: number[]) => tensor({ dtype: 'i8', shape: [v.length] }, Int8Array.from(v));
    expect(errorStats(i8(3, -4), i8(3, -4), EXACT).ok).toBe(true);
    expect(errorStats(i8(3, -3), i8(3, -4), EXACT).violations).toBe(1);
    expect(() => errorStats(f32(1, 2), f32(1, 2, 3), TOL)).toThrow(/against a reference/);
  });
});
