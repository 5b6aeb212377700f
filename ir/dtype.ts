/**
 * Element types. Packed 4-bit types store eight elements per u32: element k of a row sits in nibble (k % 8),
 * nibble 0 being the least significant (bits 0..3); a row's length is padded to a multiple of 8.
 * i4 is two's complement in [-8, 7]; u4 is [0, 15].
 * GPU storage also packs i8, 4 per u32 (byte k % 4 = element k, rows padded to whole words; targets/target.ts).
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i8' | 'u8' | 'i4' | 'u4' | 'bool';

export interface DTypeInfo {
  readonly bits: number;
  readonly isFloat: boolean;
  readonly isInt: boolean;
  readonly signed: boolean;
  /** elements packed into one 32-bit storage word (1 for the unpacked types) */
  readonly packed: number;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  f32: { bits: 32, isFloat: true, isInt: false, signed: true, packed: 1 },
  f16: { bits: 16, isFloat: true, isInt: false, signed: true, packed: 1 },
  bf16: { bits: 16, isFloat: true, isInt: false, signed: true, packed: 1 },
  i32: { bits: 32, isFloat: false, isInt: true, signed: true, packed: 1 },
  u32: { bits: 32, isFloat: false, isInt: true, signed: false, packed: 1 },
  i8: { bits: 8, isFloat: false, isInt: true, signed: true, packed: 1 },
  u8: { bits: 8, isFloat: false, isInt: true, signed: false, packed: 1 },
  i4: { bits: 4, isFloat: false, isInt: true, signed: true, packed: 8 },
  u4: { bits: 4, isFloat: false, isInt: true, signed: false, packed: 8 },
  bool: { bits: 8, isFloat: false, isInt: false, signed: false, packed: 1 },
};

export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPES, s);
}

export function isFloat(d: DType): boolean {
  return DTYPES[d].isFloat;
}

export function isPacked(d: DType): boolean {
  return DTYPES[d].packed > 1;
}

/** Inclusive integer range of an integer dtype. */
export function intRange(d: DType): [number, number] {
  const { bits, signed, isInt } = DTYPES[d];
  if (!isInt) throw new Error(`intRange: ${d} is not an integer type`);
  return signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}
