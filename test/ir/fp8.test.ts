import { describe, expect, it } from 'vitest';
import { decodeE4m3, E4M3_MAX, encodeE4m3, isE4m3Nan } from '../../ir/fp8.ts';

/** Independent table of all 256 codes from the format's definition: (−1)^s · 2^(e−7) · (1 + m/8), e = 0 subnormal. */
function tableValue(code: number): number {
  const s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e === 15 && m === 7) return NaN;
  const mag = e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
  return s ? -mag : mag;
}

const CODES = Array.from({ length: 256 }, (_, c) => c);
const FINITE = CODES.filter((c) => !isE4m3Nan(c));

describe('e4m3 decode / encode (ir/fp8.ts)', () => {
  it('decodes all 256 codes as the format table says; signed bytes read as their unsigned code', () => {
    for (const c of CODES) expect(Object.is(decodeE4m3(c), tableValue(c)), `code ${c}`).toBe(true);
    for (const c of CODES) expect(Object.is(decodeE4m3((c << 24) >> 24), tableValue(c))).toBe(true);
    expect([0x7e, 0x38, 0x01, 0x08, 0xb8].map(decodeE4m3)).toEqual([448, 1, 2 ** -9, 2 ** -6, -1]);
    expect(Object.is(decodeE4m3(0x80), -0)).toBe(true);
  });

  it('encodes every finite code value to itself (the round trip is exact, −0 included)', () => {
    for (const c of FINITE) expect(encodeE4m3(decodeE4m3(c)), `code ${c}`).toBe(c);
  });

  it('rounds to nearest, ties to the even mantissa, at every midpoint between neighbouring codes', () => {
    // positive codes 0..0x7e are increasing; the midpoint of c and c+1 goes to the one with an even low bit
    for (let c = 0; c < 0x7e; c++) {
      const [lo, hi] = [decodeE4m3(c), decodeE4m3(c + 1)];
      const mid = (lo + hi) / 2;
      const even = c % 2 === 0 ? c : c + 1;
      expect(encodeE4m3(mid), `tie between ${c} and ${c + 1}`).toBe(even);
      expect(encodeE4m3(-mid)).toBe(0x80 | even);
      const eps = (hi - lo) * 1e-6;
      expect(encodeE4m3(mid - eps)).toBe(c);
      expect(encodeE4m3(mid + eps)).toBe(c + 1);
    }
  });

  it('saturates at ±448 (no infinities), keeps the sign of zeros and maps NaN to +0', () => {
    expect(E4M3_MAX).toBe(448);
    for (const v of [448, 449, 463.9, 464, 480, 1e6, Infinity]) {
      expect(encodeE4m3(v)).toBe(0x7e);
      expect(encodeE4m3(-v)).toBe(0xfe);
    }
    expect(encodeE4m3(0)).toBe(0);
    expect(encodeE4m3(-0)).toBe(0x80);
    expect(encodeE4m3(-(2 ** -11))).toBe(0x80);
    expect(encodeE4m3(NaN)).toBe(0);
  });

  it('every int4 value is exact in e4m3', () => {
    for (let v = -8; v <= 7; v++) expect(decodeE4m3(encodeE4m3(v))).toBe(v);
  });
});
