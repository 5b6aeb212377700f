import { describe, expect, it } from 'vitest';
import { seededInputs } from '../../compiler/inputs.ts';
import { graph, node, withCarries } from '../../ir/index.ts';
import { inp } from '../runtime/reference-helpers.ts';

describe('seededInputs', () => {
  it('seeds x and t, and starts carried state at zero', () => {
    const [x, t, c, l] = [inp('x', 'f32', [2, 3]), inp('t', 'f32', [2]), inp('carry.r', 'f32', [2, 3]), inp('carry.l', 'i32', [4])];
    const g = withCarries(graph('g', [x, t], [node('add', [x, c])]), [{ input: c, next: c }, { input: l, next: l }]);
    const s = seededInputs(g, 3);
    expect(Array.from(s['x']!.data).every((v) => v >= -1 && v < 1) && s['x']!.data.some((v) => v !== 0)).toBe(true);
    expect(Array.from(s['t']!.data).every((v) => v >= 0 && v < 1)).toBe(true);
    expect(Array.from(s['carry.r']!.data)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(s['carry.l']!.data).toEqual(new Int32Array(4));
  });
});
