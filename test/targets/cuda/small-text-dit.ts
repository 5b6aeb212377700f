import type { VDiTConfig } from '../../../compiler/model/config.ts';
import { PRESETS } from '../../../compiler/model/presets.ts';

/**
 * cogvideox-2b cut to one block of width 64 over 5 text + 2×4×4 video tokens: the same op sequence (text and video
 * tokens concatenated, the text rows sliced off before the final norm), so the first and the final parameterless
 * layernorm share one CUDA source at two row counts (37 and 32), as 17776 and 17550 do in the full model.
 */
export function smallTextDiT(): VDiTConfig {
  return {
    ...PRESETS['cogvideox-2b']!, video: [2, 8, 8, 4], hidden: 64, heads: 2, ffn: 128, depth: 1,
    text: { tokens: 5, dim: 16 }, timeFreqDim: 64, condDim: 32, rope: { dims: [8, 12, 12], theta: 10000 },
  };
}
