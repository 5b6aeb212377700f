import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clipSeed, fmix32, mulberry32 } from '../../../compiler/data/prng.ts';

const FIXTURE = JSON.parse(readFileSync(new URL('../../fixtures/moving-shapes.json', import.meta.url), 'utf8')) as {
  prng: { seed: number; u32: number[] };
  clipSeed: { cls: number; seed: number; state: number }[];
};

describe('mulberry32', () => {
  it('reproduces the fixture sequence shared with models/tiny/data.py', () => {
    const r = mulberry32(FIXTURE.prng.seed);
    expect(FIXTURE.prng.u32.map(() => r.nextU32())).toEqual(FIXTURE.prng.u32);
  });

  it('derives floats from the integer bits only', () => {
    const a = mulberry32(2024);
    const b = mulberry32(2024);
    for (let i = 0; i < 100; i++) {
      const u = a.next();
      expect(u).toBe(b.nextU32() / 4294967296);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
  });

  it('is roughly uniform (mean within 0.01 of 1/2 over 20000 draws)', () => {
    const r = mulberry32(99);
    let s = 0;
    for (let i = 0; i < 20000; i++) s += r.next();
    expect(Math.abs(s / 20000 - 0.5)).toBeLessThan(0.01);
  });

  it('maps range() onto [lo, hi)', () => {
    const r = mulberry32(5);
    for (let i = 0; i < 200; i++) {
      const v = r.range(4, 6);
      expect(v >= 4 && v < 6).toBe(true);
    }
  });

  it('rejects seeds that are not u32 integers', () => {
    for (const bad of [-1, 1.5, 2 ** 32, NaN]) {
      expect(() => mulberry32(bad)).toThrow(/seed must be an integer in \[0, 2\^32\)/);
    }
  });
});

describe('clipSeed', () => {
  it('matches the fixture', () => {
    for (const e of FIXTURE.clipSeed) expect(clipSeed(e.cls, e.seed)).toBe(e.state);
  });

  it('never collides across seeds of one class (fmix32 is a bijection)', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 5000; s++) seen.add(clipSeed(3, s));
    expect(seen.size).toBe(5000);
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).not.toBe(fmix32(2));
  });
});
