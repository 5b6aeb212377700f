import { lowbias32 } from '../compiler/weights/init.ts';

/**
 * Seeded standard-normal noise, counter-based so element i depends only on (seed, i) and any slice can be
 * recomputed on its own (in PyTorch, numpy or a WGSL kernel). All integer arithmetic is on u32 (wrapping):
 *
 *   lowbias32(x):  x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
 *   hash(seed, c) = lowbias32(c + lowbias32(seed ^ 0x9e3779b9))                  (c, seed as u32)
 *   pair j covers elements 2j and 2j+1:
 *     u1 = ((hash(seed, 2j) >> 8) + 1) · 2^-24        in (0, 1], so log(u1) is finite
 *     u2 =  (hash(seed, 2j + 1) >> 8) · 2^-24         in [0, 1)
 *     r = sqrt(−2 ln u1),  θ = 2π · u2
 *     z[2j] = r cos θ,  z[2j+1] = r sin θ              (float64, then rounded to float32)
 *
 * An odd n drops the last sin value. The uniforms are exact in f32/f64; the float64 transcendental functions may
 * differ in the last f64 bit between libms, which rounding to f32 hides except in rare ties.
 */
export function gaussianNoise(n: number, seed: number): Float32Array {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`gaussianNoise: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(seed)) throw new Error(`gaussianNoise: seed must be an integer, got ${seed}`);
  const key = lowbias32((seed ^ 0x9e3779b9) >>> 0);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = ((lowbias32((i + key) >>> 0) >>> 8) + 1) * 2 ** -24;
    const u2 = (lowbias32((i + 1 + key) >>> 0) >>> 8) * 2 ** -24;
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    out[i] = r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}
