import { describe, expect, it } from 'vitest';
import {
  actFormatOf, tokenScaleDivisor, parseQuantSetting, qmax, qrange, QUANT_SETTINGS, quantizeRows, quantizeValue, quantSettingName, quantSpec,
  roundHalfEven, rowScale, weightDtype,
} from '../../ir/quant.ts';
import { hashUniform } from '../../compiler/weights/init.ts';
import { packNibbles, unpackNibbles } from '../../runtime/reference-pack.ts';

function seeded(n: number, seed: number, amp = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => amp * (2 * hashUniform(seed, 77, i) - 1));
}

describe('quant specs', () => {
  it('parses the settings by name, case-insensitively', () => {
    expect(parseQuantSetting('w4a6')).toEqual(QUANT_SETTINGS['w4a6']);
    expect(parseQuantSetting(' W4A8 ')).toMatchObject({ wBits: 4, aBits: 8, symmetric: true, dynamic: true });
    expect(parseQuantSetting('w8a8').granularity).toEqual({ weight: 'channel', activation: 'token' });
    expect(quantSettingName(parseQuantSetting('W4A4'))).toBe('w4a4');
    expect(Object.keys(QUANT_SETTINGS)).toEqual(['w8a8', 'w4a8', 'w4a6', 'w4a4', 'w4a8-fp8']);
  });

  it('rejects malformed names and unsupported bit widths with the reason', () => {
    expect(() => parseQuantSetting('int4')).toThrow(/not of the form wXaY or wXaY-fp8 \(known: w8a8, w4a8, w4a6, w4a4, w4a8-fp8\)/);
    expect(() => parseQuantSetting('w3a8')).toThrow(/weight bits must be 4 or 8, got 3/);
    expect(() => parseQuantSetting('w4a5')).toThrow(/activation bits must be 4, 6 or 8, got 5/);
    expect(() => quantSpec(16, 16)).toThrow(/weight bits/);
  });

  it('w4a8-fp8 is an activation format (e4m3) on a W4A8 spec, not new bit counts; reports name it', () => {
    const fp8 = parseQuantSetting('W4A8-FP8');
    expect(fp8).toEqual(QUANT_SETTINGS['w4a8-fp8']);
    expect(fp8).toMatchObject({ wBits: 4, aBits: 8, aFormat: 'e4m3' });
    expect(parseQuantSetting('w4a8').aFormat).toBe('int');
    expect(quantSettingName(fp8)).toBe('w4a8-fp8');
    expect(quantSettingName(quantSpec(4, 8))).toBe('w4a8');
    expect(() => parseQuantSetting('w4a6-fp8')).toThrow(/FP8 \(e4m3\) activations are 8 bits over int4 weights/);
    expect(() => parseQuantSetting('w8a8-fp8')).toThrow(/over int4 weights/);
    expect(() => quantSpec(4, 8, 'e5m2' as never)).toThrow(/format must be int or e4m3/);
  });

  it('token_scale divisors: qmax for integers, 448 for e4m3, both over clip', () => {
    expect([tokenScaleDivisor(8), tokenScaleDivisor(8, undefined, 'e4m3')]).toEqual([127, 448]);
    expect(tokenScaleDivisor(8, 0.5, 'e4m3')).toBe(896);
    expect(actFormatOf({})).toBe('int');
    expect(actFormatOf({ aformat: 'e4m3' }, 'aformat')).toBe('e4m3');
    expect(() => actFormatOf({ format: 'fp8' })).toThrow(/format must be "int" or "e4m3"/);
  });

  it('has the paper ranges: N=4 [-8, 7], N=6 [-32, 31], N=8 [-128, 127]', () => {
    expect([qrange(4), qrange(6), qrange(8)]).toEqual([[-8, 7], [-32, 31], [-128, 127]]);
    expect([qmax(4), qmax(6), qmax(8)]).toEqual([7, 31, 127]);
    expect([weightDtype(4), weightDtype(8)]).toEqual(['i4', 'i8']);
  });

  it('rounds half to even and clamps to the range; NaN becomes 0', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -7.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -8]);
    expect([100, -100, 6.5, -8.5, NaN].map((v) => quantizeValue(v, 4))).toEqual([7, -8, 6, -8, 0]);
    expect(quantizeValue(-40, 6)).toBe(-32);
  });
});

describe('RTN per output channel', () => {
  it('maps each row max to ±qmax and keeps every value within Δ/2', () => {
    const [rows, cols] = [12, 37];
    const w = seeded(rows * cols, 3, 0.05);
    for (const bits of [4, 8]) {
      const { q, scale } = quantizeRows(w, rows, cols, bits);
      for (let r = 0; r < rows; r++) {
        const d = scale[r]!;
        expect(d).toBe(rowScale(w, r * cols, cols, bits));
        let peak = 0;
        for (let k = 0; k < cols; k++) {
          const i = r * cols + k;
          expect(Math.abs(q[i]!)).toBeLessThanOrEqual(qmax(bits));
          expect(Math.abs(w[i]! - q[i]! * d)).toBeLessThanOrEqual(d / 2 + 1e-7 * d);
          peak = Math.max(peak, Math.abs(q[i]!));
        }
        expect(peak).toBe(qmax(bits));
      }
    }
  });

  it('gives an all-zero row the scale 1 and zero values', () => {
    const w = new Float32Array([0, 0, 0, 0.5, -1, 0.25]);
    const { q, scale } = quantizeRows(w, 2, 3, 4);
    expect([...scale]).toEqual([1, Math.fround(1 / 7)]);
    // 0.5 / f32(1/7) = 3.49999985… in f32: just below the tie, so 3
    expect([...q]).toEqual([0, 0, 0, 3, -7, 2]);
  });

  it('rejects non-finite weights and wrong sizes', () => {
    expect(() => quantizeRows(new Float32Array([1, Infinity]), 1, 2, 4)).toThrow(/row 0, column 1 is Infinity/);
    expect(() => quantizeRows(new Float32Array(5), 2, 3, 4)).toThrow(/5 values do not make \[2, 3\]/);
  });

  it('round-trips int4 values through the packed layout, rows padded to whole words', () => {
    const [rows, cols] = [5, 13];
    const { q } = quantizeRows(seeded(rows * cols, 9), rows, cols, 4);
    const words = packNibbles(q, [rows, cols]);
    expect(words.length).toBe(rows * Math.ceil(cols / 8));
    expect([...unpackNibbles(words, [rows, cols], true)]).toEqual([...q]);
    // low nibble = even k: element (0, 0) sits in bits 0..3 of word 0, element (0, 1) in bits 4..7
    expect(((words[0]! & 0xf) << 28) >> 28).toBe(q[0]);
    expect((((words[0]! >>> 4) & 0xf) << 28) >> 28).toBe(q[1]);
  });
});
