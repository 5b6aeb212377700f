import { isFloat, type DType } from '../../ir/dtype.ts';
import { params, type Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { formatType, numel, type TensorType } from '../../ir/types.ts';
import { packNibbles } from '../../runtime/reference-pack.ts';
import { tensor, type Tensor, type TensorData } from '../../runtime/tensor.ts';
import { roundF16, roundBf16 } from './f16.ts';
import type { Weights } from './weights.ts';

/**
 * Counter-based seeded values: element i of a param depends only on (seed, fnv1a(name), i), so any element can be
 * recomputed on its own, e.g. by a WGSL init kernel. Everything is u32 arithmetic (Math.imul, wrapping adds), which
 * WGSL's u32 ops reproduce bit for bit.
 */

/** FNV-1a over the UTF-16 code units of s (names are ASCII in practice, where this equals FNV-1a over the bytes). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** lowbias32 (Chris Wellons, "hash-prospector"): a u32 → u32 bijection with low avalanche bias. */
export function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Uniform in [0, 1): h = lowbias32(i + lowbias32(nameHash + lowbias32(seed))) (wrapping u32 adds), and the
 * result is (h >> 8) · 2^-24, a multiple of 2^-24 and hence exact in f32.
 */
export function hashUniform(seed: number, nameHash: number, i: number): number {
  const h = lowbias32((i + lowbias32((nameHash + lowbias32(seed >>> 0)) >>> 0)) >>> 0);
  return (h >>> 8) * 2 ** -24;
}

/**
 * init 'normal' is *uniform* on [−a, a) with a = f32(std·√3), which has standard deviation std. Per element:
 * f32((2u − 1) · a), where 2u − 1 is exact in f32, so a WGSL kernel computing `(2.0 * u - 1.0) * a` matches.
 */
export function normalInitScale(std: number): number {
  return Math.fround(std * Math.sqrt(3));
}

function roundTo(dtype: DType): (x: number) => number {
  if (dtype === 'f16') return roundF16;
  if (dtype === 'bf16') return roundBf16;
  return Math.fround;
}

function paramTensor(n: Node, seed: number): Tensor {
  const name = n.attrs['name'] as string;
  const init = n.attrs['init'] ?? 'normal';
  const t = n.type;
  const len = numel(t.shape);
  if (init === 'zeros' || init === 'ones') return filled(t, len, init === 'ones' ? 1 : 0, name);
  if (init !== 'normal') {
    throw new Error(`param '${name}': unknown init ${JSON.stringify(init)} (normal | zeros | ones)`);
  }
  if (!isFloat(t.dtype)) throw new Error(`param '${name}': init 'normal' needs a float dtype, got ${formatType(t)}`);
  const std = n.attrs['std'] ?? 0.02;
  if (typeof std !== 'number' || !(std >= 0)) throw new Error(`param '${name}': std must be a number ≥ 0`);
  const a = normalInitScale(std);
  const h = fnv1a(name);
  const round = roundTo(t.dtype);
  const data = new Float32Array(len);
  for (let i = 0; i < len; i++) data[i] = round((2 * hashUniform(seed, h, i) - 1) * a);
  return tensor(t, data);
}

function filled(t: TensorType, len: number, v: number, name: string): Tensor {
  if (t.dtype === 'i4' || t.dtype === 'u4') {
    throw new Error(`param '${name}': seeded init of packed ${t.dtype} is not supported`);
  }
  const data = allocData(t.dtype, len);
  data.fill(v);
  return tensor(t, data);
}

function allocData(dtype: DType, len: number): TensorData {
  switch (dtype) {
    case 'f32': case 'f16': case 'bf16': return new Float32Array(len);
    case 'i32': return new Int32Array(len);
    case 'u32': case 'i4': case 'u4': return new Uint32Array(len);
    case 'i8': return new Int8Array(len);
    case 'u8': case 'bool': return new Uint8Array(len);
  }
}

/** Seeded values for every param of g, computed lazily on first use and cached by name. */
export function seededWeights(g: Graph, seed: number): Weights {
  const byName = new Map<string, Node>();
  for (const p of params(g)) {
    const name = p.attrs['name'];
    if (typeof name !== 'string') throw new Error(`param without a name attribute: ${p.key}`);
    const prev = byName.get(name);
    if (prev && prev !== p) {
      throw new Error(`param '${name}' is declared twice with different types/attrs: ${prev.key} vs ${p.key}`);
    }
    byName.set(name, p);
  }
  const cache = new Map<string, Tensor>();
  return {
    get(name) {
      const hit = cache.get(name);
      if (hit) return hit;
      const p = byName.get(name);
      if (!p) return undefined;
      const t = paramTensor(p, seed);
      cache.set(name, t);
      return t;
    },
    names: () => byName.keys(),
  };
}

/**
 * A fresh random tensor for tests: floats uniform in [−1, 1); integers uniform in [0, max) (max defaults to 16,
 * clipped to the dtype range; signed types use [−max/2, max/2) when no max is given); bool 0/1; i4/u4 packed.
 */
export function randomTensor(type: TensorType, seed: number, max?: number): Tensor {
  const len = numel(type.shape);
  const h = fnv1a(`randomTensor:${type.dtype}`);
  const u = (i: number): number => hashUniform(seed, h, i);
  if (isFloat(type.dtype)) {
    const round = roundTo(type.dtype);
    return tensor(type, Float32Array.from({ length: len }, (_, i) => round(2 * u(i) - 1)));
  }
  if (type.dtype === 'bool') return tensor(type, Uint8Array.from({ length: len }, (_, i) => (u(i) < 0.5 ? 1 : 0)));
  const [lo, hi] = intBounds(type.dtype, max);
  const vals = Array.from({ length: len }, (_, i) => lo + Math.floor(u(i) * (hi - lo)));
  if (type.dtype === 'i4' || type.dtype === 'u4') return tensor(type, packNibbles(vals, type.shape));
  const data = allocData(type.dtype, len);
  data.set(vals);
  return tensor(type, data);
}

function intBounds(dtype: DType, max: number | undefined): [number, number] {
  const signed = dtype === 'i32' || dtype === 'i8' || dtype === 'i4';
  const cap = dtype === 'i4' || dtype === 'u4' ? 16 : dtype === 'i8' || dtype === 'u8' ? 256 : 2 ** 31;
  if (max !== undefined) {
    if (!(Number.isInteger(max) && max >= 1)) {
      throw new Error(`randomTensor: max must be a positive integer, got ${max}`);
    }
    return [0, Math.min(max, signed ? cap / 2 : cap)];
  }
  return signed ? [-Math.min(8, cap / 2), Math.min(8, cap / 2)] : [0, 16];
}
