import type { GraphBuilder } from '../../ir/builder.ts';
import type { Node } from '../../ir/node.ts';
import type { VDiTConfig, VDiTDims } from './config.ts';

/** x[B, T, H, W, C] → [B, N, pt·ph·pw·C]; tokens in (t, h, w) row-major order, in-patch order (pt, ph, pw, C). */
export function patchify(b: GraphBuilder, x: Node, cfg: VDiTConfig, d: VDiTDims): Node {
  const [gt, gh, gw] = d.grid;
  const [pt, ph, pw] = cfg.patch;
  const c = cfg.video[3];
  const split = b.reshape(x, [cfg.batch, gt, pt, gh, ph, gw, pw, c]);
  return b.reshape(b.permute(split, [0, 1, 3, 5, 2, 4, 6, 7]), [cfg.batch, d.videoTokens, d.patchDim]);
}

/** Inverse of patchify: [B, N, pt·ph·pw·C] → [B, T, H, W, C]. */
export function unpatchify(b: GraphBuilder, x: Node, cfg: VDiTConfig, d: VDiTDims): Node {
  const [gt, gh, gw] = d.grid;
  const [pt, ph, pw] = cfg.patch;
  const c = cfg.video[3];
  const split = b.reshape(x, [cfg.batch, gt, gh, gw, pt, ph, pw, c]);
  return b.reshape(b.permute(split, [0, 1, 4, 2, 5, 3, 6, 7]), [cfg.batch, ...cfg.video]);
}

/**
 * c[B, condDim] = t_embedder(t) (+ y_embedder(y)). t is flow-matching time in [0, 1], scaled by 1000 so the
 * sinusoid frequencies match DiT's integer timesteps; features are [cos, sin] (DiT, diffusers flip_sin_to_cos).
 */
export function conditioning(b: GraphBuilder, t: Node, y: Node | undefined, cfg: VDiTConfig, d: VDiTDims): Node {
  const freq = b.timestepEmbedding(t, { dim: cfg.timeFreqDim, maxPeriod: 10000, flip: false, shift: 0, scale: 1000 });
  const h = b.linear(freq, 't_embedder.mlp.0', d.condDim);
  const tEmb = b.linear(b.silu(h), 't_embedder.mlp.2', d.condDim);
  if (!y || cfg.classes === undefined) return tEmb;
  const table = b.param('y_embedder.embedding_table.weight', [cfg.classes, d.condDim]);
  return b.add(tEmb, b.gather(table, y, 0));
}

/** text[B, Nt, Dt] → [B, Nt, hidden]: one linear for joint blocks (CogVideoX), an MLP otherwise (Wan, PixArt). */
export function embedText(b: GraphBuilder, text: Node, cfg: VDiTConfig): Node {
  if (cfg.block === 'joint') return b.linear(text, 'text_embedder.proj', cfg.hidden);
  const h = b.linear(text, 'text_embedder.mlp.0', cfg.hidden);
  return b.linear(b.gelu(h, 'tanh'), 'text_embedder.mlp.2', cfg.hidden);
}

/**
 * `pos_embed` [1, N, hidden], added when cfg.posEmbed (default: rope null). It is a param only because the op set
 * has no iota: weight sources supply the fixed table from sincosTable3d() (seededWeights and the training script do).
 */
export function addPositionTable(b: GraphBuilder, x: Node, cfg: VDiTConfig, d: VDiTDims): Node {
  return b.add(x, b.param('pos_embed', [1, d.videoTokens, cfg.hidden]));
}

/**
 * The fixed 3D position table [N·hidden] for `pos_embed`, in CogVideoX's layout: hidden splits into sections
 * [t: D/4 | h: 3D/8 | w: 3D/8]; each section of width d is MAE's 1D table [sin(p·ω_i), cos(p·ω_i)],
 * ω_i = 10000^(−i/(d/2)), p the token's coordinate on that axis. Needs hidden divisible by 16.
 */
export function sincosTable3d(grid: readonly [number, number, number], hidden: number): Float32Array {
  if (hidden % 16) throw new Error(`sincosTable3d: hidden ${hidden} must be divisible by 16`);
  const widths = [hidden / 4, (3 * hidden) / 8, (3 * hidden) / 8];
  const starts = [0, widths[0]!, widths[0]! + widths[1]!];
  const omegas = widths.map((w) => Float64Array.from({ length: w / 2 }, (_, i) => 10000 ** (-i / (w / 2))));
  const [gt, gh, gw] = grid;
  const out = new Float32Array(gt * gh * gw * hidden);
  let row = 0;
  for (let t = 0; t < gt; t++) {
    for (let h = 0; h < gh; h++) {
      for (let w = 0; w < gw; w++, row++) {
        [t, h, w].forEach((p, axis) => {
          const omega = omegas[axis]!;
          const base = row * hidden + starts[axis]!;
          for (let i = 0; i < omega.length; i++) {
            out[base + i] = Math.sin(p * omega[i]!);
            out[base + omega.length + i] = Math.cos(p * omega[i]!);
          }
        });
      }
    }
  }
  return out;
}
