/**
 * FP8 E4M3 (OCP "E4M3FN": PTX .e4m3, torch.float8_e4m3fn): 1 sign, 4 exponent bits (bias 7), 3 mantissa bits, no
 * infinities. Code s.eeee.mmm is (−1)^s · (1 + m/8) · 2^(e−7) for e ≥ 1 and (−1)^s · m · 2^−9 for e = 0
 * (subnormals); s.1111.111 is NaN, so the largest finite magnitude is s.1111.110 = 448.
 * Every e4m3 value is exact in f16 and f32, and every int4 value in [−8, 7] is exact in e4m3, which is why W4A8-FP8
 * multiplies int4 weights and e4m3 activations without error (ir/quant.ts, the `format` of an activation spec).
 */

/** Largest finite e4m3 magnitude: the per-token scale maps max|x| onto it. */
export const E4M3_MAX = 448;

/** The NaN codes (0x7F, 0xFF); quantize never produces them (it saturates and maps NaN to +0). */
export function isE4m3Nan(code: number): boolean {
  return (code & 0x7f) === 0x7f;
}

/** The value of an e4m3 byte (0..255, or a signed byte as Int8Array holds it). */
export function decodeE4m3(code: number): number {
  const c = code & 0xff;
  const sign = c & 0x80 ? -1 : 1;
  const e = (c >> 3) & 0xf;
  const m = c & 7;
  if (e === 15 && m === 7) return NaN;
  return sign * (e === 0 ? m * 2 ** -9 : (8 + m) * 2 ** (e - 10));
}

/**
 * The e4m3 code of v, rounded to nearest even and saturated to ±448 (PTX cvt.rn.satfinite); the sign is kept
 * (−0 and negatives that round to zero give 0x80, as the hardware conversion does) and NaN gives +0, the value
 * the integer quantizer gives NaN (ir/quant.ts quantizeValue).
 */
export function encodeE4m3(v: number): number {
  if (Number.isNaN(v)) return 0;
  const sign = v < 0 || Object.is(v, -0) ? 0x80 : 0;
  const a = Math.abs(v);
  if (a >= E4M3_MAX) return sign | 0x7e;
  if (a < 2 ** -6) return sign | roundHalfEvenExact(a * 2 ** 9);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  // the significand's 3 fraction bits; a carry to 8 moves to the next binade (448 is the top: a < 448 stays finite)
  const m = roundHalfEvenExact((a / 2 ** e - 1) * 8);
  const code = ((e + 7) << 3) + m;
  return sign | Math.min(code, 0x7e);
}

// a / 2^e and the scalings above are exact in f64, so this rounds the true value
function roundHalfEvenExact(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}
