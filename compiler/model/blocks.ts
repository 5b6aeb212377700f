import type { GraphBuilder, RopeOptions } from '../../ir/builder.ts';
import type { Node } from '../../ir/node.ts';
import type { VDiTConfig, VDiTDims } from './config.ts';

/** What every block reads besides its input tokens. */
export interface BlockContext {
  readonly cfg: VDiTConfig;
  readonly dims: VDiTDims;
  /** silu(c) [B, condDim], input of per-block adaLN linears */
  readonly siluC: Node;
  /** t_block output [B, 6·hidden] when adaLN is shared */
  readonly shared?: Node;
  /** embedded text [B, Nt, hidden] for cross-attention (cross and factorized blocks) */
  readonly text?: Node;
}

type Mod = [shiftMsa: Node, scaleMsa: Node, gateMsa: Node, shiftMlp: Node, scaleMlp: Node, gateMlp: Node];

// adaLN-Zero would zero-init this linear, making every block the identity under seeded init; std 0.02 keeps the
// random model non-trivial (a trained checkpoint overrides it anyway)
function modulation(b: GraphBuilder, ctx: BlockContext): Mod {
  const h = ctx.cfg.hidden;
  if (ctx.shared) {
    const table = b.reshape(b.param('scale_shift_table', [6, h]), [1, 6 * h]);
    return b.chunk(b.add(ctx.shared, table), 6, 1) as Mod;
  }
  return b.chunk(b.linear(ctx.siluC, 'adaLN_modulation.1', 6 * h, { std: 0.02 }), 6, 1) as Mod;
}

function qkNorm(b: GraphBuilder, x: Node, name: string, cfg: VDiTConfig): Node {
  if (cfg.qkNorm === 'rmsnorm') return b.rmsNorm(x, name, { affine: true, eps: cfg.eps });
  if (cfg.qkNorm === 'layernorm') return b.layerNorm(x, name, { affine: true, eps: cfg.eps });
  return x;
}

/**
 * Multi-head attention with q from xq [B', Nq, D] and k, v from xkv [B', Nk, D]; separate q/k/v linears so that
 * quantization treats each on its own. Returns proj(attn) [B', Nq, D].
 */
export function attend(b: GraphBuilder, xq: Node, xkv: Node, cfg: VDiTConfig, rope?: RopeOptions): Node {
  const d = cfg.hidden;
  let q = qkNorm(b, b.splitHeads(b.linear(xq, 'q', d), cfg.heads), 'q_norm', cfg);
  let k = qkNorm(b, b.splitHeads(b.linear(xkv, 'k', d), cfg.heads), 'k_norm', cfg);
  const v = b.splitHeads(b.linear(xkv, 'v', d), cfg.heads);
  if (rope) {
    q = b.rope3d(q, rope);
    k = b.rope3d(k, rope);
  }
  const o = b.attention(q, k, v, { scale: 1 / Math.sqrt(d / cfg.heads) });
  return b.linear(b.mergeHeads(o), 'proj', d);
}

function mlp(b: GraphBuilder, x: Node, cfg: VDiTConfig): Node {
  const h = b.gelu(b.linear(x, 'mlp.fc1', cfg.ffn), cfg.gelu);
  return b.linear(h, 'mlp.fc2', cfg.hidden);
}

function ropeFor(cfg: VDiTConfig, grid: readonly [number, number, number], offset: number): RopeOptions | undefined {
  return cfg.rope ? { grid, dims: cfg.rope.dims, theta: cfg.rope.theta, offset } : undefined;
}

function norm(b: GraphBuilder, x: Node, cfg: VDiTConfig): Node {
  return b.layerNorm(x, undefined, { affine: false, eps: cfg.eps });
}

function mlpResidual(b: GraphBuilder, x: Node, m: Mod, cfg: VDiTConfig): Node {
  return b.add(x, b.gate(mlp(b, b.modulate(norm(b, x, cfg), m[3], m[4]), cfg), m[5]));
}

/** joint and cross blocks: full 3D self-attention (text tokens first for joint), then cross-attention for cross. */
export function fullBlock(b: GraphBuilder, x: Node, ctx: BlockContext): Node {
  const { cfg, dims } = ctx;
  const m = modulation(b, ctx);
  const h = b.modulate(norm(b, x, cfg), m[0], m[1]);
  const offset = cfg.block === 'joint' ? dims.textTokens : 0;
  x = b.add(x, b.gate(attend(b.scope('attn'), h, h, cfg, ropeFor(cfg, dims.grid, offset)), m[2]));
  if (cfg.block === 'cross') x = crossResidual(b, x, ctx, true);
  return mlpResidual(b, x, m, cfg);
}

function crossResidual(b: GraphBuilder, x: Node, ctx: BlockContext, normed: boolean): Node {
  if (!ctx.text) throw new Error(`block '${ctx.cfg.block}' needs embedded text`);
  const q = normed ? b.layerNorm(x, 'norm3', { affine: true, eps: ctx.cfg.eps }) : x;
  return b.add(x, attend(b.scope('cross_attn'), q, ctx.text, ctx.cfg));
}

/**
 * STDiT block: spatial attention over each frame's H'·W' tokens, temporal attention (on the un-normalised
 * residual, as STDiT does) over each position's T' tokens, both gated by gate_msa; cross-attention without norm.
 * RoPE keeps the full [dt, dh, dw] split: spatial attention sees grid [1, H', W'] (the t section rotates by 0),
 * temporal attention grid [T', 1, 1].
 */
export function factorizedBlock(b: GraphBuilder, x: Node, ctx: BlockContext): Node {
  const { cfg, dims } = ctx;
  const [gt, gh, gw] = dims.grid;
  const [bs, n, d] = [cfg.batch, dims.videoTokens, cfg.hidden];
  const s = gh * gw;
  const m = modulation(b, ctx);
  const h = b.reshape(b.modulate(norm(b, x, cfg), m[0], m[1]), [bs * gt, s, d]);
  const spatial = attend(b.scope('attn'), h, h, cfg, ropeFor(cfg, [1, gh, gw], 0));
  x = b.add(x, b.gate(b.reshape(spatial, [bs, n, d]), m[2]));
  const xt = b.reshape(b.permute(b.reshape(x, [bs, gt, s, d]), [0, 2, 1, 3]), [bs * s, gt, d]);
  const temporal = attend(b.scope('attn_temp'), xt, xt, cfg, ropeFor(cfg, [gt, 1, 1], 0));
  const back = b.reshape(b.permute(b.reshape(temporal, [bs, s, gt, d]), [0, 2, 1, 3]), [bs, n, d]);
  x = b.add(x, b.gate(back, m[2]));
  x = crossResidual(b, x, ctx, false);
  return mlpResidual(b, x, m, cfg);
}
