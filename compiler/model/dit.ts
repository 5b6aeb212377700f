/**
 * buildDiT(cfg): the video DiT denoiser forward (adaLN-Zero), as an IR graph. This comment is the contract a PyTorch
 * training script must match param by param (see the `tiny` preset); B = batch, D = hidden, Dh = D / heads,
 * [T', H', W'] = video / patch, N = T'·H'·W', Nt = text tokens, P = pt·ph·pw·C, Dc = condDim (default D).
 * Every linear is y = x Wᵀ + b, W [out, in], bias [out] (nn.Linear); all norms use eps = cfg.eps.
 *
 * Inputs: x f32[B,T,H,W,C] (noisy video), t f32[B] (flow-matching time in [0,1]), y i32[B] (when classes),
 *         text f32[B,Nt,Dt] (when text). Output: f32[B,T,H,W,C] (velocity).
 *
 *  1. patchify: x.reshape(B,T',pt,H',ph,W',pw,C).permute(0,1,3,5,2,4,6,7).reshape(B,N,P)   tokens (t,h,w) row-major
 *     h = x_embedder.proj(h)                                   x_embedder.proj.weight [D,P], .bias [D]
 *     posEmbed (default rope null): h = h + pos_embed            pos_embed [1,N,D] (fixed table, embed.ts sincosTable3d)
 *  2. c = t_embedder.mlp.2(silu(t_embedder.mlp.0(timestep_embedding(t, Ft, scale=1000))))
 *        timestep_embedding: f_i = 10000^(−i/(Ft/2)), a = 1000·t·f, [cos a, sin a]   (Ft = timeFreqDim)
 *        t_embedder.mlp.0.weight [Dc,Ft], .bias [Dc]; t_embedder.mlp.2.weight [Dc,Dc], .bias [Dc]
 *     classes: c = c + y_embedder.embedding_table.weight[y]    [classes, Dc]; null class = classes − 1
 *  3. text: joint → e = text_embedder.proj(text)               text_embedder.proj.weight [D,Dt]
 *           cross/factorized → e = text_embedder.mlp.2(gelu_tanh(text_embedder.mlp.0(text)))  [D,Dt], [D,D]
 *     joint: h = cat([e, h], dim=1)                            [B, Nt+N, D], text first
 *  4. adaLN shared only: s = t_block.1(silu(c))                t_block.1.weight [6D,Dc], .bias [6D]
 *  5. per block i (prefix blocks.{i}):
 *     mod = adaLN_modulation.1(silu(c))  [6D,Dc], [6D]         (adaLN 'block'; std-0.02 init, not zero: see blocks.ts)
 *         | s + scale_shift_table.reshape(1,6D)   [6,D]         (adaLN 'shared')
 *     shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=1)
 *     modulate(z, sh, sc) = z·(1+sc[:,None]) + sh[:,None];  gate(z, g) = z·g[:,None]
 *     ln(z) = layer_norm(z) without affine
 *     attention A(prefix, zq, zkv, rope):                      A's params: {q,k,v,proj}.weight [D,D], .bias [D]
 *        q = prefix.q(zq), k = prefix.k(zkv), v = prefix.v(zkv); each .reshape(B',n,heads,Dh).permute(0,2,1,3)
 *        qkNorm: q = prefix.q_norm(q), k = prefix.k_norm(k) over Dh   rmsnorm: .weight [Dh]; layernorm: + .bias
 *        rope: q, k rotated (ops.ts rope3d: interleaved pairs, sections dt|dh|dw); text tokens unrotated
 *        o = softmax(q kᵀ/√Dh) v; .permute(0,2,1,3).reshape(B',n,D); return prefix.proj(o)
 *     joint/cross: a = modulate(ln(h), shift_msa, scale_msa)
 *        h = h + gate(A(attn, a, a, rope grid [T',H',W'], offset Nt (joint) or 0), gate_msa)
 *        cross only: h = h + A(cross_attn, norm3(h), e)        norm3 = LayerNorm(D) affine: .weight, .bias [D]
 *     factorized: a = modulate(ln(h), shift_msa, scale_msa).reshape(B·T', H'W', D)
 *        h = h + gate(A(attn, a, a, grid [1,H',W']).reshape(B,N,D), gate_msa)
 *        u = h.reshape(B,T',H'W',D).permute(0,2,1,3).reshape(B·H'W',T',D)
 *        h = h + gate(A(attn_temp, u, u, grid [T',1,1]).reshape(B,H'W',T',D).permute(0,2,1,3).reshape(B,N,D), gate_msa)
 *        h = h + A(cross_attn, h, e)                            no norm before cross-attention (STDiT)
 *     all: h = h + gate(mlp.fc2(gelu(mlp.fc1(modulate(ln(h), shift_mlp, scale_mlp)))), gate_mlp)
 *        mlp.fc1.weight [ffn,D], .bias [ffn]; mlp.fc2.weight [D,ffn], .bias [D]; gelu approx = cfg.gelu
 *  6. joint: h = h[:, Nt:]                                      video tokens only
 *  7. shift, scale = final_layer.adaLN_modulation.1(silu(c)).chunk(2, dim=1)   [2D,Dc], [2D]
 *     h = final_layer.linear(modulate(ln(h), shift, scale))   final_layer.linear.weight [P,D], .bias [P]
 *  8. unpatchify: h.reshape(B,T',H',W',pt,ph,pw,C).permute(0,1,4,2,5,3,6,7).reshape(B,T,H,W,C)
 *
 * Seeded init: biases and norm shifts zero, norm weights one, everything else normal(0, 0.02).
 */
import { GraphBuilder } from '../../ir/builder.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { factorizedBlock, fullBlock, type BlockContext } from './blocks.ts';
import { hasPositionTable, modelDims, type VDiTConfig, type VDiTDims } from './config.ts';
import { addPositionTable, conditioning, embedText, patchify, unpatchify } from './embed.ts';

/** Options for inspection graphs: `stopAfterBlock: i` returns the hidden state after block i ([B, tokens, D]). */
export interface BuildOptions {
  readonly stopAfterBlock?: number;
}

export function buildDiT(cfg: VDiTConfig, opts: BuildOptions = {}): Graph {
  const d = modelDims(cfg);
  const b = GraphBuilder.create(cfg.name);
  const x = b.input('x', [cfg.batch, ...cfg.video]);
  const t = b.input('t', [cfg.batch]);
  const y = cfg.classes !== undefined ? b.input('y', [cfg.batch], 'i32') : undefined;
  const text = cfg.text ? b.input('text', [cfg.batch, cfg.text.tokens, cfg.text.dim]) : undefined;

  let h = b.linear(patchify(b, x, cfg, d), 'x_embedder.proj', cfg.hidden);
  if (hasPositionTable(cfg)) h = addPositionTable(b, h, cfg, d);
  const c = conditioning(b, t, y, cfg, d);
  const e = text ? embedText(b, text, cfg) : undefined;
  if (e && cfg.block === 'joint') h = b.concat([e, h], 1);

  const siluC = b.silu(c);
  const shared = cfg.adaLN === 'shared' ? b.linear(siluC, 't_block.1', 6 * cfg.hidden) : undefined;
  const cross = e && cfg.block !== 'joint' ? { text: e } : {};
  const ctx: BlockContext = { cfg, dims: d, siluC, ...(shared ? { shared } : {}), ...cross };
  const block = cfg.block === 'factorized' ? factorizedBlock : fullBlock;
  for (let i = 0; i < cfg.depth; i++) {
    h = block(b.scope(`blocks.${i}`), h, ctx);
    if (i === opts.stopAfterBlock) return b.build(h);
  }

  if (cfg.block === 'joint' && d.textTokens) h = b.slice(h, 1, d.textTokens, d.textTokens + d.videoTokens);
  return b.build(unpatchify(b, finalLayer(b.scope('final_layer'), h, siluC, cfg, d), cfg, d));
}

function finalLayer(b: GraphBuilder, h: Node, siluC: Node, cfg: VDiTConfig, d: VDiTDims): Node {
  const [shift, scale] = b.chunk(b.linear(siluC, 'adaLN_modulation.1', 2 * cfg.hidden), 2, 1) as [Node, Node];
  const z = b.modulate(b.layerNorm(h, undefined, { affine: false, eps: cfg.eps }), shift, scale);
  return b.linear(z, 'linear', d.patchDim);
}
