import type { VDiTConfig } from '../../../compiler/model/config.ts';
import { tinyConfig, type ConfigOverrides } from '../../../compiler/model/presets.ts';

/** The tiny preset cut to 2 blocks of width 64 (2 heads): every kernel kind of the model, fast on lavapipe. */
export function narrowTiny(overrides: ConfigOverrides = {}): VDiTConfig {
  return tinyConfig({ depth: 2, hidden: 64, heads: 2, ffn: 128, rope: { dims: [8, 12, 12], theta: 10000 }, ...overrides });
}

/** narrowTiny over a 4×16×16 clip (2×4×4 tokens) with 64 timestep features. */
export function narrowTinySmallClip(batch: number): VDiTConfig {
  return narrowTiny({ video: [4, 16, 16, 3], timeFreqDim: 64, batch });
}
