/**
 * A video diffusion transformer, as plain JSON. Shapes are channels-last; "tokens" are 3D patches in (t, h, w)
 * row-major order. `compiler/model/dit.ts` documents how each field shapes the graph.
 */
export interface VDiTConfig {
  readonly name: string;
  /** one sample [T, H, W, C], channels-last; latent or pixel space (the model does not care) */
  readonly video: readonly [number, number, number, number];
  /** patch [pt, ph, pw]; must divide [T, H, W] */
  readonly patch: readonly [number, number, number];
  readonly hidden: number;
  readonly depth: number;
  readonly heads: number;
  /** hidden size of each block's MLP */
  readonly ffn: number;
  /**
   * joint: full 3D attention over [text; video] tokens (CogVideoX); cross: full 3D self-attention over video then
   * cross-attention to text (Wan); factorized: spatial attention per frame, temporal attention per position, then
   * cross-attention to text (Latte / Open-Sora STDiT)
   */
  readonly block: 'joint' | 'cross' | 'factorized';
  /** class labels incl. the null class used for CFG (index classes-1); adds input y: i32[B] */
  readonly classes?: number;
  /** text conditioning; adds input text: f32[B, tokens, dim]; required by cross and factorized blocks */
  readonly text?: { readonly tokens: number; readonly dim: number };
  /** width of the sinusoidal timestep features */
  readonly timeFreqDim: number;
  /** width of the conditioning vector c (timestep MLP output); default hidden. CogVideoX uses 512 */
  readonly condDim?: number;
  /**
   * block: each block has its own adaLN linear(silu(c)) → 6·hidden (DiT, CogVideoX). shared: one linear
   * `t_block` for all blocks plus a per-block learned table [6, hidden] added to it (PixArt, STDiT, Wan)
   */
  readonly adaLN?: 'block' | 'shared';
  /** 3D RoPE on q and k (dims sum to the head dim); null = none */
  readonly rope: { readonly dims: readonly [number, number, number]; readonly theta: number } | null;
  /**
   * add the fixed 3D sin-cos table `pos_embed` (embed.ts sincosTable3d) to the video tokens after the patch
   * embedding; default: when rope is null. With RoPE it gives the model absolute positions (where the walls are),
   * which relative RoPE alone does not
   */
  readonly posEmbed?: boolean;
  /** per-head normalisation of q and k (affine) */
  readonly qkNorm: 'rmsnorm' | 'layernorm' | 'none';
  /** gelu in the MLP: 'tanh' (approximate) or 'none' (erf) */
  readonly gelu: 'tanh' | 'none';
  readonly batch: number;
  /** epsilon of every norm */
  readonly eps: number;
}

/** Derived sizes used by the graph builder and tests. */
export interface VDiTDims {
  /** token grid [T', H', W'] */
  readonly grid: readonly [number, number, number];
  readonly videoTokens: number;
  readonly textTokens: number;
  /** tokens full attention sees: text + video for joint blocks, video otherwise */
  readonly attnTokens: number;
  readonly patchDim: number;
  readonly headDim: number;
  readonly condDim: number;
}

export function modelDims(cfg: VDiTConfig): VDiTDims {
  validateConfig(cfg);
  const [t, h, w, c] = cfg.video;
  const [pt, ph, pw] = cfg.patch;
  const grid = [t / pt, h / ph, w / pw] as const;
  const videoTokens = grid[0] * grid[1] * grid[2];
  const textTokens = cfg.text?.tokens ?? 0;
  return {
    grid,
    videoTokens,
    textTokens,
    attnTokens: cfg.block === 'joint' ? videoTokens + textTokens : videoTokens,
    patchDim: pt * ph * pw * c,
    headDim: cfg.hidden / cfg.heads,
    condDim: cfg.condDim ?? cfg.hidden,
  };
}

/** Throws an Error naming the first inconsistent field. */
export function validateConfig(cfg: VDiTConfig): void {
  const fail = (msg: string): never => {
    throw new Error(`config '${cfg.name}': ${msg}`);
  };
  const pos = (v: number | undefined, what: string): void => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) fail(`${what} must be a positive integer, got ${v}`);
  };
  cfg.video.forEach((d, i) => pos(d, `video[${i}]`));
  cfg.patch.forEach((d, i) => pos(d, `patch[${i}]`));
  const sizes = ['hidden', 'depth', 'heads', 'ffn', 'timeFreqDim', 'batch', 'condDim', 'classes'] as const;
  for (const k of sizes) pos(cfg[k], k);
  cfg.patch.forEach((p, i) => {
    if (cfg.video[i]! % p) fail(`patch[${i}] = ${p} does not divide video[${i}] = ${cfg.video[i]}`);
  });
  if (cfg.hidden % cfg.heads) fail(`hidden ${cfg.hidden} is not divisible by heads ${cfg.heads}`);
  if (cfg.timeFreqDim % 2) fail(`timeFreqDim ${cfg.timeFreqDim} must be even`);
  if (cfg.classes !== undefined && cfg.classes < 2) fail('classes must include at least one class and the null class');
  if (cfg.text) {
    pos(cfg.text.tokens, 'text.tokens');
    pos(cfg.text.dim, 'text.dim');
  }
  if (cfg.block !== 'joint' && !cfg.text) fail(`block '${cfg.block}' needs text conditioning`);
  if (!['joint', 'cross', 'factorized'].includes(cfg.block)) fail(`unknown block '${cfg.block}'`);
  if (!['rmsnorm', 'layernorm', 'none'].includes(cfg.qkNorm)) fail(`unknown qkNorm '${cfg.qkNorm}'`);
  if (cfg.rope) {
    const hd = cfg.hidden / cfg.heads;
    const { dims } = cfg.rope;
    if (dims.some((d) => d < 0 || d % 2) || dims[0] + dims[1] + dims[2] !== hd) {
      fail(`rope dims [${dims.join(',')}] must be even and sum to the head dim ${hd}`);
    }
  }
  if (hasPositionTable(cfg) && cfg.hidden % 16) {
    fail(`the sin-cos position table needs hidden divisible by 16, got ${cfg.hidden}`);
  }
  if (!(cfg.eps > 0)) fail(`eps must be positive, got ${cfg.eps}`);
}

/** Whether the graph adds the fixed sin-cos table `pos_embed` (cfg.posEmbed, default: no RoPE). */
export function hasPositionTable(cfg: VDiTConfig): boolean {
  return cfg.posEmbed ?? cfg.rope === null;
}
