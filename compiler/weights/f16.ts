/**
 * IEEE binary16 and bfloat16 conversions. Both narrowings round to nearest, ties to even, overflow to ±inf and keep
 * NaN a (quiet) NaN; f16 narrowing produces subnormals. Inputs are first taken to f32 (Math.fround), as a GPU would
 * hold them, so a f64 value can round twice (f64 → f32 → f16).
 */

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function f32Bits(x: number): number {
  F32[0] = x;
  return U32[0]!;
}

/** f32 bit pattern → f16 bit pattern; the branch layout follows numpy's npy_floatbits_to_halfbits. */
function f32BitsToF16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = f & 0x7f800000;
  let sig = f & 0x007fffff;
  if (exp >= 0x47800000) {
    if (exp === 0x7f800000 && sig !== 0) return sign | 0x7e00 | (sig >>> 13);
    return sign | 0x7c00;
  }
  if (exp <= 0x38000000) {
    // below half the smallest subnormal (2^-25): rounds to zero
    if (exp < 0x33000000) return sign;
    const e = exp >>> 23;
    sig = (0x00800000 + sig) >>> (113 - e);
    // the shift can drop up to 11 low bits of the original: a tie only when they are all zero
    if ((sig & 0x3fff) !== 0x1000 || (f & 0x7ff) !== 0) sig += 0x1000;
    return sign | (sig >>> 13);
  }
  const hexp = (exp - 0x38000000) >>> 13;
  if ((sig & 0x3fff) !== 0x1000) sig += 0x1000;
  // a carry out of the significand bumps the exponent, and past the top exponent gives inf: both correct
  return (sign | ((sig >>> 13) + hexp)) & 0xffff;
}

export function f32ToF16Bits(x: number): number {
  return f32BitsToF16Bits(f32Bits(x));
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

function f32BitsToBf16Bits(f: number): number {
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x007fffff) !== 0) return ((f >>> 16) | 0x0040) & 0xffff;
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBf16Bits(x: number): number {
  return f32BitsToBf16Bits(f32Bits(x));
}

export function bf16BitsToF32(b: number): number {
  U32[0] = (b & 0xffff) << 16;
  return F32[0]!;
}

/** x rounded to the nearest f16 value (as a number). */
export function roundF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

export function roundBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

export function toF16Bits(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = Float32Array.from(src);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < u.length; i++) out[i] = f32BitsToF16Bits(u[i]!);
  return out;
}

export function fromF16Bits(src: ArrayLike<number>): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16BitsToF32(src[i]!);
  return out;
}

export function toBf16Bits(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = Float32Array.from(src);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < u.length; i++) out[i] = f32BitsToBf16Bits(u[i]!);
  return out;
}

export function fromBf16Bits(src: ArrayLike<number>): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = (src[i]! & 0xffff) << 16;
  return new Float32Array(out.buffer);
}

/** Rounds every element to f16 (or bf16) precision in place; the array keeps f32 storage. */
export function roundArrayF16(a: Float32Array | Float64Array): void {
  for (let i = 0; i < a.length; i++) a[i] = roundF16(a[i]!);
}

export function roundArrayBf16(a: Float32Array | Float64Array): void {
  for (let i = 0; i < a.length; i++) a[i] = roundBf16(a[i]!);
}
