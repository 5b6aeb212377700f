import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, fromBf16Bits, fromF16Bits, roundF16, toBf16Bits, toF16Bits,
} from '../../../compiler/weights/f16.ts';

describe('f16', () => {
  it('rounds known values to the right bit patterns', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [1 / 3, 0x3555], [65504, 0x7bff], [65519, 0x7bff],
      [65520, 0x7c00], [Infinity, 0x7c00], [-Infinity, 0xfc00], [-0, 0x8000], [2 ** -14, 0x0400],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [2 ** -25 * 1.5, 0x0001], [3 * 2 ** -25, 0x0002],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2 ** -14 - 2 ** -25, 0x0400], [1e-10, 0],
    ];
    for (const [x, bits] of cases) expect([x, f32ToF16Bits(x)]).toEqual([x, bits]);
    const nan = f32ToF16Bits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('decodes subnormals, normals and specials', () => {
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16BitsToF32(0x3555)).toBe(0.333251953125);
    expect(f16BitsToF32(0xfbff)).toBe(-65504);
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
  });

  it('round-trips every non-NaN bit pattern, arrays included', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => (h & 0x7c00) !== 0x7c00 || !(h & 0x3ff));
    const back = toF16Bits(fromF16Bits(all));
    expect(back).toEqual(all);
    expect(roundF16(0.1)).toBe(f16BitsToF32(0x2e66));
  });
});

describe('bf16', () => {
  it('rounds to nearest even, overflows to inf, keeps NaN', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16Bits(-3.140625)).toBe(0xc049);
    expect(f32ToBf16Bits(3.4e38)).toBe(0x7f80);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(bf16BitsToF32(0x4049)).toBe(3.140625);
  });

  it('round-trips every non-NaN bit pattern', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => (h & 0x7f80) !== 0x7f80 || !(h & 0x7f));
    expect(toBf16Bits(fromBf16Bits(all))).toEqual(all);
  });
});
