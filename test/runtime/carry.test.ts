import { describe, expect, it } from 'vitest';
import { graph, node, withCarries } from '../../ir/index.ts';
import { CarryState, graphCarry, manifestCarry } from '../../runtime/carry.ts';
import { cpuDenoiser } from '../../runtime/sampler.ts';
import { inp } from './reference-helpers.ts';

describe('CarryState', () => {
  it('starts at zeros, then hands each forward\'s carry outputs (copied, in their own type) to the next', () => {
    const s = new CarryState([{ name: 'carry.a', dtype: 'f32', size: 2, output: 1 },
      { name: 'carry.b', dtype: 'i32', size: 1, output: 2 }]);
    expect(s.inputs()).toEqual({ 'carry.a': new Float32Array(2), 'carry.b': new Int32Array(1) });
    const a = Float32Array.of(1.5, -2);
    s.update([Float32Array.of(9), a, Float32Array.of(7)]);
    a[0] = 0; // a backend reusing its buffer does not change the carried value
    expect(s.inputs()).toEqual({ 'carry.a': Float32Array.of(1.5, -2), 'carry.b': Int32Array.of(7) });
    expect(() => s.update([[0], [1]])).toThrow(/carry carry.a: output 1 holds 1 values, expected 2/);
  });

  it('reads a manifest by the same convention: carry.* inputs, the last outputs', () => {
    const m = manifestCarry([{ name: 'x', dtype: 'f32', shape: [2, 3] }, { name: 'carry.r', dtype: 'f32', shape: [2, 3] },
      { name: 't', dtype: 'f32', shape: [2] }], 2);
    expect(m.slots).toEqual([{ name: 'carry.r', dtype: 'f32', size: 6, output: 1 }]);
    expect(() => manifestCarry([{ name: 'carry.r', dtype: 'f32', shape: [1] }], 1)).toThrow(/1 carry inputs but 1 outputs/);
  });

  it('a graph denoiser feeds its carry from forward to forward', async () => {
    const [x, t, y, c] = [inp('x', 'f32', [2, 3]), inp('t', 'f32', [2]), inp('y', 'i32', [2]), inp('carry.c', 'f32', [2, 3])];
    // velocity x + c; the next carry c + x: the sum of the x seen so far
    const g = withCarries(graph('g', [x, t, y], [node('add', [x, c])]), [{ input: c, next: node('add', [c, x]) }]);
    expect(graphCarry(g).slots).toEqual([{ name: 'carry.c', dtype: 'f32', size: 6, output: 1 }]);
    const den = cpuDenoiser({ graph: g, weights: { get: () => undefined, names: () => new Set() } });
    const [x1, x2] = [Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(0.5, 0, -1, 2, 0, 1)];
    const [tt, yy] = [Float32Array.of(1, 1), Int32Array.of(0, 0)];
    expect(Array.from(await den(x1, tt, yy))).toEqual(Array.from(x1));
    expect(Array.from(await den(x2, tt, yy))).toEqual(Array.from(x2, (v, i) => v + x1[i]!));
    expect(Array.from(await den(x2, tt, yy))).toEqual(Array.from(x2, (v, i) => 2 * v + x1[i]!));
  });
});
