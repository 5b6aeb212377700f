// Deterministic 32-bit PRNG shared bit-for-bit with models/tiny/data.py.
//
// Generator: mulberry32 (Tommy Ettinger). State is one u32; each step
//   a = a + 0x6D2B79F5                      (mod 2^32)
//   t = imul(a ^ (a >>> 15), a | 1)
//   t = (t + imul(t ^ (t >>> 7), t | 61)) ^ t
//   out = t ^ (t >>> 14)                     (as u32)
// Floats come from integer bits only: u = out / 2^32 in [0, 1), exact in float64, so Python
// (`& 0xffffffff` arithmetic) reproduces every value. Nothing here uses transcendental functions.
//
// Clip seeding: state = fmix32(seed ^ fmix32(cls + 0x9E3779B9)), fmix32 being MurmurHash3's
// finaliser; it is a bijection of seed for a fixed class, so distinct seeds never share a stream.

const U32 = 4294967296;

export interface Prng {
  /** next raw output as an unsigned 32-bit integer */
  nextU32(): number;
  /** next float in [0, 1): nextU32() / 2^32 */
  next(): number;
  /** next float in [lo, hi): lo + (hi - lo) * next() */
  range(lo: number, hi: number): number;
}

export function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= U32) {
    throw new Error(`${name} must be an integer in [0, 2^32), got ${v}`);
  }
}

export function mulberry32(seed: number): Prng {
  checkU32('seed', seed);
  let a = seed | 0;
  const nextU32 = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = (): number => nextU32() / U32;
  return { nextU32, next, range: (lo, hi) => lo + (hi - lo) * next() };
}

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function clipSeed(cls: number, seed: number): number {
  checkU32('seed', seed);
  return fmix32((seed ^ fmix32((cls + 0x9e3779b9) >>> 0)) >>> 0);
}
