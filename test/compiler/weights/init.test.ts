import { describe, expect, it } from 'vitest';
import { graph, node, tensorType } from '../../../ir/index.ts';
import { roundF16 } from '../../../compiler/weights/f16.ts';
import {
  fnv1a, hashUniform, lowbias32, normalInitScale, randomTensor, seededWeights,
} from '../../../compiler/weights/init.ts';

const x = node('input', [], { name: 'x' }, tensorType('f32', [4, 256]));
const w = node('param', [], { name: 'w', std: 0.05 }, tensorType('f32', [512, 256]));
const v = node('param', [], { name: 'v' }, tensorType('f32', [256]));
const z = node('param', [], { name: 'z', init: 'zeros' }, tensorType('f32', [256]));
const o = node('param', [], { name: 'o', init: 'ones' }, tensorType('f32', [256]));
const h = node('param', [], { name: 'h' }, tensorType('f16', [64]));
const g = graph('g', [x], [node('linear', [x, w]), node('add', [node('add', [v, z]), o]), h]);

describe('hash', () => {
  it('uses the documented FNV-1a and lowbias32 constants', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    expect(lowbias32(0)).toBe(0);
    const outs = new Set(Array.from({ length: 1000 }, (_, i) => lowbias32(i)));
    expect(outs.size).toBe(1000);
  });

  it('hashUniform lies in [0, 1) on the 2^-24 grid and is roughly uniform', () => {
    let mean = 0;
    for (let i = 0; i < 20000; i++) {
      const u = hashUniform(7, 123, i);
      expect(u >= 0 && u < 1).toBe(true);
      expect(Number.isInteger(u * 2 ** 24)).toBe(true);
      mean += u / 20000;
    }
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(hashUniform(7, 123, 5)).not.toBe(hashUniform(8, 123, 5));
  });
});

describe('seededWeights', () => {
  it('is deterministic per seed, lazy, cached and computable per element', () => {
    const a = seededWeights(g, 1);
    const t = a.get('w')!;
    expect(a.get('w')).toBe(t);
    expect(seededWeights(g, 1).get('w')!.data).toEqual(t.data);
    expect(seededWeights(g, 2).get('w')!.data).not.toEqual(t.data);
    const s = normalInitScale(0.05);
    for (const i of [0, 1, 777, 131071]) {
      expect(t.data[i]).toBe(Math.fround((2 * hashUniform(1, fnv1a('w'), i) - 1) * s));
    }
    expect(a.get('nope')).toBeUndefined();
    expect([...a.names()].sort()).toEqual(['h', 'o', 'v', 'w', 'z']);
  });

  it("'normal' is uniform on ±std·√3 with the stated std (default 0.02)", () => {
    const a = seededWeights(g, 3);
    for (const [name, std] of [['w', 0.05], ['v', 0.02]] as const) {
      const d = Array.from(a.get(name)!.data);
      const mean = d.reduce((p, q) => p + q, 0) / d.length;
      const sd = Math.sqrt(d.reduce((p, q) => p + (q - mean) ** 2, 0) / d.length);
      expect(Math.abs(sd / std - 1)).toBeLessThan(name === 'w' ? 0.01 : 0.12);
      expect(d.reduce((m, q) => Math.max(m, Math.abs(q)), 0)).toBeLessThanOrEqual(normalInitScale(std));
      expect(Math.abs(mean)).toBeLessThan(std * 0.2);
    }
  });

  it('zeros, ones, and f16 params hold f16 values', () => {
    const a = seededWeights(g, 4);
    expect(a.get('z')!.data.every((q) => q === 0)).toBe(true);
    expect(a.get('o')!.data.every((q) => q === 1)).toBe(true);
    const hd = a.get('h')!.data;
    expect(Array.from(hd)).toEqual(Array.from(hd, roundF16));
    expect(new Set(hd).size).toBeGreaterThan(50);
  });

  it('rejects unknown inits and clashing declarations', () => {
    const bad = node('param', [], { name: 'b', init: 'xavier' }, tensorType('f32', [2]));
    expect(() => seededWeights(graph('b', [], [bad]), 0).get('b')).toThrow(/param 'b': unknown init "xavier"/);
    const w2 = node('param', [], { name: 'w' }, tensorType('f32', [3]));
    expect(() => seededWeights(graph('c', [], [w, w2]), 0)).toThrow(/param 'w' is declared twice/);
  });
});

describe('randomTensor', () => {
  it('gives floats in [−1, 1), ints in [0, max), fresh per seed', () => {
    const f = randomTensor(tensorType('f32', [1000]), 1);
    expect(f.data.every((q) => q >= -1 && q < 1)).toBe(true);
    expect(new Set(f.data).size).toBeGreaterThan(990);
    expect(randomTensor(tensorType('f32', [1000]), 2).data).not.toEqual(f.data);
    const l = randomTensor(tensorType('i32', [1000]), 1, 5);
    expect(l.data).toBeInstanceOf(Int32Array);
    expect(new Set(l.data)).toEqual(new Set([0, 1, 2, 3, 4]));
    const p = randomTensor(tensorType('i4', [3, 10]), 1);
    expect(p.data).toBeInstanceOf(Uint32Array);
    expect(p.data.length).toBe(6);
  });
});
