import { describe, expect, it } from 'vitest';
import { node, tensorType } from '../../ir/index.ts';
import { tensor } from '../../runtime/tensor.ts';
import { inp, rand, ravel, run1, unravel } from './reference-helpers.ts';

const shape = [2, 3, 4];
const x = inp('x', 'f32', shape);
const xt = rand('f32', shape, 1);
const at = (idx: number[]): number => xt.data[ravel(idx, shape)]!;

describe('shape ops', () => {
  it('reshape keeps row-major order', () => {
    const got = run1(node('reshape', [x], { shape: [4, 6] }), { x: xt });
    expect(got.type.shape).toEqual([4, 6]);
    expect(Array.from(got.data)).toEqual(Array.from(xt.data));
  });

  it('permute and transpose move elements to permuted indices', () => {
    const p = run1(node('permute', [x], { perm: [2, 0, 1] }), { x: xt });
    expect(p.type.shape).toEqual([4, 2, 3]);
    expect(Array.from(p.data)).toEqual(Array.from({ length: 24 }, (_, i) => {
      const [c, a, b] = unravel(i, [4, 2, 3]);
      return at([a!, b!, c!]);
    }));
    const t = run1(node('transpose', [x], { dim0: 0, dim1: -1 }), { x: xt });
    expect(Array.from(t.data)).toEqual(Array.from({ length: 24 }, (_, i) => {
      const [c, b, a] = unravel(i, [4, 3, 2]);
      return at([a!, b!, c!]);
    }));
  });

  it('concat along a middle axis interleaves the blocks', () => {
    const y = inp('y', 'f32', [2, 1, 4]);
    const yt = rand('f32', [2, 1, 4], 2);
    const got = run1(node('concat', [x, y, x], { axis: 1 }), { x: xt, y: yt });
    expect(got.type.shape).toEqual([2, 7, 4]);
    expect(Array.from(got.data)).toEqual(Array.from({ length: 56 }, (_, i) => {
      const [a, b, c] = unravel(i, [2, 7, 4]) as [number, number, number];
      return b < 3 ? at([a, b, c]) : b === 3 ? yt.data[a * 4 + c]! : at([a, b - 4, c]);
    }));
  });

  it('slice with a step picks start, start + step, … below end', () => {
    const got = run1(node('slice', [x], { axis: 2, start: 1, end: 4, step: 2 }), { x: xt });
    expect(got.type.shape).toEqual([2, 3, 2]);
    expect(Array.from(got.data)).toEqual(Array.from({ length: 12 }, (_, i) => {
      const [a, b, c] = unravel(i, [2, 3, 2]) as [number, number, number];
      return at([a, b, 1 + 2 * c]);
    }));
  });

  it('gather inserts the index shape at the axis', () => {
    const idx = inp('i', 'i32', [2, 2]);
    const it_ = tensor(tensorType('i32', [2, 2]), Int32Array.from([2, 0, 0, 1]));
    const got = run1(node('gather', [x, idx], { axis: 1 }), { x: xt, i: it_ });
    expect(got.type.shape).toEqual([2, 2, 2, 4]);
    expect(Array.from(got.data)).toEqual(Array.from({ length: 32 }, (_, i) => {
      const [a, p, q, c] = unravel(i, [2, 2, 2, 4]) as [number, number, number, number];
      return at([a, it_.data[p * 2 + q]!, c]);
    }));
  });

  it('gather rejects an out-of-range index, naming it', () => {
    const idx = inp('i', 'i32', [2]);
    const bad = tensor(tensorType('i32', [2]), Int32Array.from([1, 3]));
    expect(() => run1(node('gather', [x, idx], { axis: 1 }), { x: xt, i: bad }))
      .toThrow(/index 3 \(at 1\) out of range for axis 1 of size 3/);
  });
});
