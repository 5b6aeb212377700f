import { f32Bound } from '../../ir/infer-tile-select.ts';

// Timesteps that probe a scheduled kernel's range bounds (schedule_value, the scheduled tile lists): shared by the
// WGSL and CUDA tests, each with its own seeded stream.

/** The f32 one ulp away from f32 x, up (+1) or down (−1). */
export function f32Step(x: number, dir: 1 | -1): number {
  if (x === 0) return dir * 2 ** -149;
  const f = new Float32Array([x]);
  const bits = new Int32Array(f.buffer);
  bits[0] = bits[0]! + (x > 0 ? dir : -dir);
  return f[0]!;
}

/** Timesteps at every bound: f32(b), the rounded-up f32Bound(b) and their neighbours, then `random` in [−0.5, 1.5). */
export function scheduleTimesteps(bounds: readonly number[], next: () => number, random: number): Float32Array {
  const at = bounds.flatMap((b) => {
    const [f, up] = [Math.fround(b), f32Bound(b)];
    return [f32Step(f, -1), f, f32Step(f, 1), up, f32Step(up, 1)];
  });
  return Float32Array.from([...at, ...Array.from({ length: random }, () => -0.5 + 2 * next())]);
}
