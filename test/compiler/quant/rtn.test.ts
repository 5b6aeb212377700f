import { describe, expect, it } from 'vitest';
import { dequantizeWeight, rtnQuantize } from '../../../compiler/quant/rtn.ts';
import { tensorType } from '../../../ir/types.ts';
import { packNibbles, unpackNibbles } from '../../../runtime/reference-pack.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { rand } from '../../runtime/reference-helpers.ts';

// For W uniform on [−a, a) and Δ = a/qmax, the RTN error is uniform on ±Δ/2, so
// ‖W − Ŵ‖/‖W‖ ≈ (Δ/√12)/(a/√3) = 1/(2·qmax): 0.0714 for W4, 0.0039 for W8. The bounds allow ±15% around that.
const EXPECTED = { 4: 1 / 14, 8: 1 / 254 } as const;

describe('RTN weight quantization', () => {
  it.each([4, 8] as const)('W%i: error near 1/(2·qmax) on uniform weights, values within Δ/2', (bits) => {
    const w = rand('f32', [48, 70], 17);
    const r = rtnQuantize(w, bits, 'w');
    expect(r.relError).toBeGreaterThan(EXPECTED[bits] * 0.85);
    expect(r.relError).toBeLessThan(EXPECTED[bits] * 1.15);
    const wh = dequantizeWeight(r.q, r.scale);
    for (let i = 0; i < wh.length; i++) {
      const half = r.scale.data[Math.floor(i / 70)]! / 2;
      expect(Math.abs(wh[i]! - w.data[i]!)).toBeLessThanOrEqual(half * (1 + 1e-6));
    }
  });

  it('stores i4 packed row-major [N, ceil(K/8)] words and i8 as Int8Array, scales f32 [N, 1]', () => {
    const w = rand('f32', [5, 13], 3);
    const r4 = rtnQuantize(w, 4);
    expect(r4.q.type).toEqual({ dtype: 'i4', shape: [5, 13] });
    expect(r4.q.data).toBeInstanceOf(Uint32Array);
    expect(r4.q.data.length).toBe(5 * 2);
    expect(r4.scale.type).toEqual({ dtype: 'f32', shape: [5, 1] });
    const vals = unpackNibbles(r4.q.data as Uint32Array, [5, 13], true);
    expect([...packNibbles(vals, [5, 13])]).toEqual([...r4.q.data]);
    expect(Math.max(...vals.map(Math.abs))).toBe(7);
    const r8 = rtnQuantize(w, 8);
    expect(r8.q.data).toBeInstanceOf(Int8Array);
    expect(r8.q.type).toEqual({ dtype: 'i8', shape: [5, 13] });
    expect(r8.relError).toBeLessThan(r4.relError / 10);
  });

  it('rejects weights that are not 2-D floats, or hold non-finite values', () => {
    const vec = rand('f32', [4], 1);
    expect(() => rtnQuantize(vec, 4, 'b')).toThrow(/rtnQuantize\(b\): expects a 2-D weight \[N, K\], got f32\[4\]/);
    expect(() => rtnQuantize(rand('i8', [2, 2], 1), 4, 'q')).toThrow(/expects a float weight, got i8\[2,2\]/);
    const bad = tensor(tensorType('f32', [1, 2]), new Float32Array([1, NaN]));
    expect(() => rtnQuantize(bad, 4, 'w')).toThrow(/rtnQuantize\(w\): quantizeRows: row 0, column 1 is NaN/);
  });
});
