import type { VDiTConfig } from './config.ts';

/**
 * Positions: every preset except opensora-stdit uses 3D RoPE; tiny adds the fixed sin-cos table too (posEmbed). CogVideoX-2b really uses a fixed 3D sin-cos table
 * (diffusers use_rotary_positional_embeddings=False) and 5b uses 3D RoPE; both are RoPE here (dims as diffusers
 * get_3d_rotary_pos_embed: t = Dh/4, h = w = 3·Dh/8). Open-Sora v1 adds fixed sin-cos tables, kept as pos_embed.
 */

/**
 * 8 blocks over 8×8×8 = 512 pixel-space tokens, class-conditioned; the model a PyTorch script trains. RoPE plus the
 * absolute sin-cos table: with RoPE alone the trained model ignored the class's motion direction and wrapped shapes
 * around the frame edges (it could not tell where the walls are).
 */
const TINY: VDiTConfig = {
  name: 'tiny',
  video: [16, 32, 32, 3],
  patch: [2, 4, 4],
  hidden: 256,
  depth: 8,
  heads: 4,
  ffn: 1024,
  block: 'joint',
  classes: 49,
  timeFreqDim: 256,
  adaLN: 'block',
  rope: { dims: [16, 24, 24], theta: 10000 },
  posEmbed: true,
  qkNorm: 'rmsnorm',
  gelu: 'tanh',
  batch: 2,
  eps: 1e-6,
};

/**
 * diffusers CogVideoXTransformer3DModel (THUDM/CogVideoX-2b transformer/config.json): num_attention_heads 30,
 * attention_head_dim 64, num_layers 30, in_channels 16, patch_size 2, sample_frames 49 (latent 13),
 * sample_height 60, sample_width 90, max_text_seq_length 226, text_embed_dim 4096, time_embed_dim 512 (the
 * sinusoid has inner_dim = 1920 features, flip_sin_to_cos), FeedForward mult 4, gelu-approximate, qk_norm
 * layer_norm, norm_eps 1e-5. Deviation: CogVideoX modulates text and video tokens with separate adaLN outputs
 * (12·D per block); here all tokens share one 6·D modulation, so the count is ~10% below the published 1.69B.
 */
const COGVIDEOX_2B: VDiTConfig = {
  name: 'cogvideox-2b',
  video: [13, 60, 90, 16],
  patch: [1, 2, 2],
  hidden: 1920,
  depth: 30,
  heads: 30,
  ffn: 7680,
  block: 'joint',
  text: { tokens: 226, dim: 4096 },
  timeFreqDim: 1920,
  condDim: 512,
  adaLN: 'block',
  rope: { dims: [16, 24, 24], theta: 10000 },
  qkNorm: 'layernorm',
  gelu: 'tanh',
  batch: 1,
  eps: 1e-5,
};

/** THUDM/CogVideoX-5b: num_attention_heads 48, num_layers 42, inner_dim 3072, 3D RoPE. */
const COGVIDEOX_5B: VDiTConfig = {
  ...COGVIDEOX_2B,
  name: 'cogvideox-5b',
  hidden: 3072,
  depth: 42,
  heads: 48,
  ffn: 12288,
  timeFreqDim: 3072,
};

/**
 * Wan-AI/Wan2.1-T2V-1.3B (WanModel config): dim 1536, ffn_dim 8960, freq_dim 256, text_dim 4096 (umT5,
 * text_len 512), num_heads 12, num_layers 30, patch (1,2,2), in/out 16, qk_norm (RMSNorm), cross_attn_norm, eps
 * 1e-6; 81 frames 480×832 → latent 21×60×104. Wan's time_projection + per-block `modulation` is adaLN 'shared';
 * its RoPE splits head dim 128 as d − 4·(d/6) | 2·(d/6) | 2·(d/6) = 44|42|42. Deviation: Wan's q/k RMSNorm spans
 * all heads ([D] weights); here it is per head ([Dh]).
 */
const WAN21_1_3B: VDiTConfig = {
  name: 'wan2.1-1.3b',
  video: [21, 60, 104, 16],
  patch: [1, 2, 2],
  hidden: 1536,
  depth: 30,
  heads: 12,
  ffn: 8960,
  block: 'cross',
  text: { tokens: 512, dim: 4096 },
  timeFreqDim: 256,
  adaLN: 'shared',
  rope: { dims: [44, 42, 42], theta: 10000 },
  qkNorm: 'rmsnorm',
  gelu: 'tanh',
  batch: 1,
  eps: 1e-6,
};

/**
 * Open-Sora v1.0 STDiT-XL/2: hidden 1152, depth 28, 16 heads, mlp_ratio 4, patch (1,2,2), input 16×32×32×4
 * (16 frames 256×256 through the SD VAE), caption T5-XXL 4096 × 120 tokens, t_block + per-block
 * scale_shift_table (adaLN 'shared'), no qk norm, fixed sin-cos positions (one 3D table here, where STDiT adds a
 * 2D spatial table at the input and a 1D temporal one before the first temporal attention).
 */
const OPENSORA_STDIT: VDiTConfig = {
  name: 'opensora-stdit',
  video: [16, 32, 32, 4],
  patch: [1, 2, 2],
  hidden: 1152,
  depth: 28,
  heads: 16,
  ffn: 4608,
  block: 'factorized',
  text: { tokens: 120, dim: 4096 },
  timeFreqDim: 256,
  adaLN: 'shared',
  rope: null,
  qkNorm: 'none',
  gelu: 'tanh',
  batch: 1,
  eps: 1e-6,
};

export const PRESETS: Readonly<Record<string, VDiTConfig>> = Object.freeze({
  tiny: TINY,
  'cogvideox-2b': COGVIDEOX_2B,
  'cogvideox-5b': COGVIDEOX_5B,
  'wan2.1-1.3b': WAN21_1_3B,
  'opensora-stdit': OPENSORA_STDIT,
});

export function getPreset(name: string): VDiTConfig {
  const p = Object.prototype.hasOwnProperty.call(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) throw new Error(`unknown preset '${name}'; available: ${Object.keys(PRESETS).join(', ')}`);
  return p;
}

/** Fields to replace; an explicit undefined removes an optional field (e.g. classes). */
export type ConfigOverrides = { readonly [K in keyof VDiTConfig]?: VDiTConfig[K] | undefined };

/** The tiny preset with some fields replaced, e.g. tinyConfig({ depth: 2 }) for fast tests. */
export function tinyConfig(overrides: ConfigOverrides = {}): VDiTConfig {
  const merged: Record<string, unknown> = { ...TINY, ...overrides };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return merged as unknown as VDiTConfig;
}
