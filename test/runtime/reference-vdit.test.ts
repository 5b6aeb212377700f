import { describe, expect, it } from 'vitest';
import { node, tensorType } from '../../ir/index.ts';
import { tensor } from '../../runtime/tensor.ts';
import { expectClose, inp, rand, run1 } from './reference-helpers.ts';

describe('timestep_embedding', () => {
  const t = inp('t', 'f32', [3]);
  const tt = tensor(tensorType('f32', [3]), Float32Array.from([0, 1.5, 999]));

  function want(dim: number, maxPeriod: number, shift: number, scale: number, flip: boolean): number[] {
    const half = dim / 2;
    const out: number[] = [];
    for (const tv of tt.data) {
      const f = (i: number): number => Math.exp((-Math.log(maxPeriod) * i) / (half - shift));
      const a = Array.from({ length: half }, (_, i) => scale * tv * f(i));
      const [c, s] = [a.map(Math.cos), a.map(Math.sin)];
      out.push(...(flip ? [...s, ...c] : [...c, ...s]));
    }
    return out;
  }

  it('defaults: max_period 10000, shift 0, scale 1, [cos, sin]', () => {
    const got = run1(node('timestep_embedding', [t], { dim: 8 }), { t: tt });
    expect(got.type.shape).toEqual([3, 8]);
    expectClose(got.data, want(8, 10000, 0, 1, false), 1e-7);
    expect(Array.from(got.data.subarray(0, 8))).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it('flip, shift, scale and max_period', () => {
    const attrs = { dim: 6, flip: true, shift: 1, scale: 1000, max_period: 100 };
    expectClose(run1(node('timestep_embedding', [t], attrs), { t: tt }).data, want(6, 100, 1, 1000, true), 1e-6);
  });
});

describe('modulate and gate', () => {
  const [B, N, D] = [2, 3, 4];
  const x = inp('x', 'f32', [B, N, D]);
  const [sh, sc] = [inp('s', 'f32', [B, D]), inp('c', 'f32', [B, D])];
  const ins = { x: rand('f32', [B, N, D], 1), s: rand('f32', [B, D], 2), c: rand('f32', [B, D], 3) };

  it('modulate = x·(1 + scale) + shift per batch and channel', () => {
    const got = run1(node('modulate', [x, sh, sc]), ins);
    const want = Array.from(ins.x.data, (v, i) => {
      const [b, d] = [Math.floor(i / (N * D)), i % D];
      return v * (1 + ins.c.data[b * D + d]!) + ins.s.data[b * D + d]!;
    });
    expectClose(got.data, want, 0, 1e-7);
  });

  it('gate = x·g', () => {
    const got = run1(node('gate', [x, sc]), { x: ins.x, c: ins.c });
    const want = Array.from(ins.x.data, (v, i) => Math.fround(v * ins.c.data[Math.floor(i / (N * D)) * D + (i % D)]!));
    expect(Array.from(got.data)).toEqual(want);
  });
});

describe('rope3d', () => {
  const rot = (x0: number, x1: number, a: number): [number, number] =>
    [x0 * Math.cos(a) - x1 * Math.sin(a), x0 * Math.sin(a) + x1 * Math.cos(a)];

  it('rotates each section by its coordinate; text tokens pass unchanged', () => {
    // grid [2,2,3], dims [2,4,2]: pair 0 by t, pair 1 by h, pair 2 by h·θ^(−2/4), pair 3 by w
    const [B, Hh, off, D] = [1, 2, 2, 8];
    const N = off + 12;
    const x = inp('x', 'f32', [B, Hh, N, D]);
    const xt = rand('f32', [B, Hh, N, D], 5);
    const got = run1(node('rope3d', [x], { grid: [2, 2, 3], dims: [2, 4, 2], theta: 100, offset: off }), { x: xt });
    const want: number[] = [];
    for (let h = 0; h < Hh; h++) for (let n = 0; n < N; n++) {
      const row = Array.from(xt.data.subarray((h * N + n) * D, (h * N + n + 1) * D));
      if (n < off) {
        want.push(...row);
        continue;
      }
      const m = n - off;
      const [tc, hc, wc] = [Math.floor(m / 6), Math.floor(m / 3) % 2, m % 3];
      const angles = [tc, hc, hc * 100 ** -0.5, wc];
      for (let p = 0; p < 4; p++) want.push(...rot(row[2 * p]!, row[2 * p + 1]!, angles[p]!));
    }
    expectClose(got.data, want, 1e-7);
    expect(Array.from(got.data.subarray(0, off * D))).toEqual(Array.from(xt.data.subarray(0, off * D)));
  });

  it('preserves the norm of every rotated pair', () => {
    const x = inp('x', 'f32', [2, 1, 8, 6]);
    const xt = rand('f32', [2, 1, 8, 6], 6);
    const got = run1(node('rope3d', [x], { grid: [2, 2, 2], dims: [2, 2, 2], theta: 10000 }), { x: xt });
    let moved = 0;
    for (let i = 0; i < xt.data.length; i += 2) {
      const [a, b, c, d] = [xt.data[i]!, xt.data[i + 1]!, got.data[i]!, got.data[i + 1]!];
      expect(Math.hypot(c, d)).toBeCloseTo(Math.hypot(a, b), 6);
      moved = Math.max(moved, Math.abs(c - a));
    }
    expect(moved).toBeGreaterThan(0.1);
  });
});

describe('schedule_value', () => {
  const t = inp('t', 'f32', [5]);

  it('gives each batch the value of its timestep\'s range (bounds descending; t equal to a bound stays in the range before it)', () => {
    const tt = tensor(tensorType('f32', [5]), Float32Array.from([1, 0.75, 0.7, 0.25, 0]));
    const got = run1(node('schedule_value', [t], { values: [1, 0, 0.5], bounds: [0.75, 0.25] }), { t: tt });
    expect(got.type).toEqual(tensorType('f32', [5]));
    expect(Array.from(got.data)).toEqual([1, 1, 0, 0, 0.5]);
  });

  it('refuses bad attributes and operands', () => {
    expect(() => node('schedule_value', [t], { values: [1, 0], bounds: [] })).toThrow(/2 values need 1 bounds, got 0/);
    expect(() => node('schedule_value', [t], { values: [], bounds: [] })).toThrow(/values must be a non-empty list/);
    expect(() => node('schedule_value', [t], { values: [1, 0], bounds: [0.2, 0.5] })).toThrow(/2 values need 1 bounds/);
    expect(() => node('schedule_value', [t], { values: [1, 0, 2], bounds: [0.2, 0.5] })).toThrow(/strictly descending/);
    expect(() => node('schedule_value', [inp('t2', 'f32', [2, 1])], { values: [1], bounds: [] })).toThrow(/expects t\[B\]/);
  });
});
