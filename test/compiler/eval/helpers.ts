import { clipToFloat, CLIP_LEN, movingShapesClip } from '../../../compiler/data/moving-shapes.ts';
import { mulberry32 } from '../../../compiler/data/prng.ts';

export const groundTruth = (cls: number, seed: number): Float32Array => clipToFloat(movingShapesClip(cls, seed));

// Approximately Gaussian (Irwin-Hall of 4 uniforms, unit variance), clipped to [-1, 1].
export function gaussianNoise(seed: number, mean: number, std: number, length = CLIP_LEN): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const g = (r.next() + r.next() + r.next() + r.next() - 2) * Math.sqrt(3);
    out[i] = Math.max(-1, Math.min(1, mean + std * g));
  }
  return out;
}

export function addNoise(clip: Float32Array, seed: number, std: number): Float32Array {
  const n = gaussianNoise(seed, 0, std, clip.length);
  return clip.map((v, i) => Math.max(-1, Math.min(1, v + n[i]!)));
}
