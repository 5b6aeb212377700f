/**
 * The op set. Semantics (the reference interpreter is the executable definition):
 *
 * LEAF      input{name}                      a graph input
 *           param{name, init?, std?}          a named weight; init = normal (default, std) | zeros | ones
 *           const{value}                      every element of the result type equals `value`
 * UNARY     neg abs exp log sqrt rsqrt recip square tanh sigmoid relu silu sin cos   elementwise, float
 *           gelu{approx}                      approx = 'none' (erf) | 'tanh'
 *           cast{to}                          convert dtype (float→int rounds to nearest even, saturates)
 * BINARY    add sub mul div max min pow       numpy broadcasting; both operands of one dtype
 * TERNARY   where(cond: bool, a, b)           broadcasting select
 * REDUCE    reduce_sum reduce_mean reduce_max {axes, keepdims}
 * NN        matmul(a[..., M, K], b[..., K, N])      batch dims broadcast
 *           linear(x[..., K], w[N, K], b?[N])        y = x wᵀ + b (PyTorch layout)
 *           layernorm{eps}(x, w?[D], b?[D])          over the last axis; affine when w (and b) are given
 *           rmsnorm{eps}(x, w?[D])                   over the last axis
 *           softmax{axis}
 *           attention{scale}(q[B,H,Nq,D], k[B,H,Nk,D], v[B,H,Nk,Dv], mask?)   softmax(q kᵀ·scale + mask) v;
 *                                                    mask broadcasts to [B,H,Nq,Nk]; bool (true = attend) or
 *                                                    additive float
 *           attention_colsum{scale}(q[B,H,Nq,D], k[B,H,Nk,D]) → f32[B,Nk]: S_j = Σ_h Σ_i softmax(q kᵀ·scale)[h,i,j],
 *                                                    the attention key j receives (S²Q-VDiT Eq. 11); Σ_j S_j = H·Nq
 *           sparse_attention{scale, tile}(q[B,H,Nq,D], k[B,H,Nk,D], v[B,H,Nk,Dv], tiles: i32[T]) → [B,H,Nq,Dv]:
 *                                                    attention over the kept key tiles only (Q stays dense): key tile
 *                                                    t is keys [t·tile, min((t+1)·tile, Nk)); equals attention with
 *                                                    an additive −∞ mask on every key outside the listed tiles. tiles
 *                                                    is ascending, distinct, in range, non-empty, shared by all b, h.
 *           sparse_attention{scale, tile, bounds}(q, k, v, tiles: i32[R, T], t: f[B]): scheduled by timestep; batch
 *                                                    b uses row r = #{i : t[b] < bounds[i]} (bounds descending,
 *                                                    R − 1 of them); a row is a list as above padded with −1 to T;
 *                                                    a row of −1 only (a range that keeps nothing) gives 0
 *           sparse_attention{scale, tile[, qtile]}(q, k, v, tiles: i32[B, H, QT, T]): per query tile of qtile
 *                                                    rows (default qtile = tile), QT = ceil(Nq/qtile); query row i of
 *                                                    (b, h) attends over row tiles[b, h, floor(i/qtile)], a list as in
 *                                                    the scheduled form (what tile_select writes); key tiles stay
 *                                                    `tile`. qtile is an error on the other two forms
 *           tile_select{tile, keep, keepFirst, scale}(q[B,H,Nq,D], k[B,H,Nk,D]) → i32[B, H, QT, T']: online key-tile
 *                                                    choice (SpargeAttn): per query tile, q̄ and each key tile's k̄
 *                                                    are the means of its rows, s_j = scale·q̄·k̄_j; the tiles holding
 *                                                    keys < keepFirst are kept, then the best others up to T' (ties →
 *                                                    lower index), ascending. KT = ceil(Nk/tile), T' = max(ceil(keep·KT),
 *                                                    tiles holding the first keepFirst keys); NaN scores rank unspecified
 *           tile_select{tile, keeps, bounds, keepFirst, scale}(q, k, t: f[B]): scheduled by timestep as
 *                                                    sparse_attention is; batch b keeps T'_r tiles, r = #{i : t[b] <
 *                                                    bounds[i]} and T'_r as T' above for keeps[r], then pads with −1
 *                                                    to T' = max_r T'_r; keeps[r] = 0 keeps no tile (not even the
 *                                                    keepFirst ones): rows of −1 only; some keeps[r] must be > 0
 *           tile_select{..., keys: Nk}(q, k̄[B,H,ceil(Nk/tile),D][, t]): pooled, either form above; k̄ holds the key
 *                                                    tiles' means (k̄_j is used as given); KT, T' from keys
 *           tile_select{..., qtile}(…): any form above with query tiles of qtile rows (default tile): q̄ of
 *                                                    query tile i is the mean of rows [i·qtile, min((i+1)·qtile, Nq)),
 *                                                    QT = ceil(Nq/qtile); key tiles, KT and T' stay by `tile`
 * SHAPE     reshape{shape}  permute{perm}  transpose{dim0, dim1}  concat{axis}(x...)
 *           slice{axis, start, end, step}  gather{axis}(x, idx: i32)  → x.shape[:axis] ++ idx.shape ++ x.shape[axis+1:]
 * VDIT      timestep_embedding{dim, max_period, flip, shift, scale}(t[B]) → [B, dim]:
 *             f_i = exp(-ln(max_period)·i/(dim/2 − shift)), a = scale·t·f; [cos a, sin a] (flip = false) or [sin a, cos a]
 *           modulate(x[B,N,D], shift[B,D], scale[B,D]) = x·(1 + scale) + shift     (adaLN)
 *           gate(x[B,N,D], g[B,D]) = x·g                                            (adaLN-Zero gate)
 *           schedule_value{values, bounds}(t: f[B]) → [B]: values[r] with r = #{i : t[b] < bounds[i]}, the range
 *             of the timestep as sparse_attention's scheduled form reads it (R values, R − 1 descending bounds)
 *           rope3d{grid=[T,H,W], dims=[dt,dh,dw], theta, offset}(x[B,Hh,N,D]): tokens offset.. are in (t,h,w)
 *             row-major order; head dim splits into sections dt|dh|dw, each rotating interleaved pairs
 *             (x[2i], x[2i+1]) by angle p·theta^(−2i/d) with p the token's coordinate on that axis;
 *             the first `offset` tokens (text) pass unchanged
 * QDQ       token_scale{bits, clip?}(x[..., K]) → f32[..., 1]: Δ = max_k |x| / (2^(bits−1) − 1) per row (0 rows → Δ = 1);
 *             with clip in (0, 1] the divisor is f32(qmax / clip) (learned activation clipping, ir/quant.ts)
 *           quantize{bits}(x[..., K], Δ[..., 1] or broadcastable) → i8 (bits ≤ 8): clamp(round_half_even(x / Δ),
 *             −2^(bits−1), 2^(bits−1) − 1); A6 is held in i8 in [−32, 31], A4 in [−8, 7]
 *           dequantize(q, Δ) = f32(q) · Δ (broadcasting); q may be i8, i32, or packed i4 (weights)
 *           format = 'e4m3' (token_scale, quantize, dequantize; qgemm: aformat): FP8 activations (ir/fp8.ts),
 *             bits = 8: qmax = 448; quantize gives the e4m3 code of f32(x / Δ) (nearest even, saturating at ±448,
 *             NaN → +0) as an i8 byte; dequantize reads the code's value; qgemm's sum is over e4m3 × int4 values,
 *             exact products summed in f32 (kernels sum in their own order: a float tolerance, not bit equality)
 *           qgemm{abits, wbits, act?, gate?, residual?}(xq: i8[..., K], Δx: f32[..., 1], wq: i4|i8[N, K],
 *                 Δw: f32[N, 1], b?: f32[N], g?: f32[B, N], r?: f32[..., N])
 *             → f32[..., N]: y = (Σ_k xq·wq) · Δx · Δwᵀ + b, the sum exact in i32; then the epilogue, in order:
 *             y = act(y) with act = 'none' (default) | 'gelu_tanh' | 'gelu_erf' (the gelu op, approx tanh | none);
 *             y = y · g[b, n] when gate = true (the adaLN gate op; the output must be [B, T, N]);
 *             y = r + y when residual = true (r of the output's shape). Operands after Δw: b (when present),
 *             then g (gate), then r (residual); b is present when there are more than 4 + gate + residual.
 *           Producer prologue (fuse-int4-gemm): token_scale and quantize may carry attrs norm?, eps, affine?,
 *             modulate?, expr? and then read, instead of x, the value v of this chain over their operands
 *             (x, w?, b?, shift?, scale?, e1.., then Δ for quantize):
 *               v = x;  v = layernorm|rmsnorm{eps}(v, w?, b?) when norm (affine = number of w, b operands, 0..2);
 *               v = modulate(v, shift[B, D], scale[B, D]) when modulate = true;
 *               v = fused{expr}(v, e1, ..) when expr ($0 = v; e_i broadcast to x's shape, which v keeps).
 *             Each step rounds as the op it names does, so the fused form equals the unfused chain exactly.
 * FUSED     fused{expr}(x...)                 one elementwise kernel; expr over $0.. in the op names above,
 *                                            e.g. "silu(add($0,$1))"; inputs broadcast to the result shape
 */
export const LEAF_OPS = ['input', 'param', 'const'] as const;
export const UNARY_OPS = [
  'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'recip', 'square', 'tanh', 'sigmoid', 'relu', 'silu', 'sin', 'cos',
  'gelu', 'cast',
] as const;
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow'] as const;
export const TERNARY_OPS = ['where'] as const;
export const REDUCE_OPS = ['reduce_sum', 'reduce_mean', 'reduce_max'] as const;
export const NN_OPS = [
  'matmul', 'linear', 'layernorm', 'rmsnorm', 'softmax', 'attention', 'attention_colsum', 'sparse_attention',
  'tile_select',
] as const;
export const SHAPE_OPS = ['reshape', 'permute', 'transpose', 'concat', 'slice', 'gather'] as const;
export const VDIT_OPS = ['timestep_embedding', 'modulate', 'gate', 'rope3d', 'schedule_value'] as const;
export const QDQ_OPS = ['token_scale', 'quantize', 'dequantize', 'qgemm'] as const;
export const FUSED_OPS = ['fused'] as const;

export type LeafOp = (typeof LEAF_OPS)[number];
export type UnaryOp = (typeof UNARY_OPS)[number];
export type BinaryOp = (typeof BINARY_OPS)[number];
export type ReduceOp = (typeof REDUCE_OPS)[number];
export type Op =
  | LeafOp | UnaryOp | BinaryOp | (typeof TERNARY_OPS)[number] | ReduceOp
  | (typeof NN_OPS)[number] | (typeof SHAPE_OPS)[number] | (typeof VDIT_OPS)[number] | (typeof QDQ_OPS)[number]
  | (typeof FUSED_OPS)[number];

export const ALL_OPS: readonly Op[] = [
  ...LEAF_OPS, ...UNARY_OPS, ...BINARY_OPS, ...TERNARY_OPS, ...REDUCE_OPS, ...NN_OPS, ...SHAPE_OPS, ...VDIT_OPS,
  ...QDQ_OPS, ...FUSED_OPS,
];

const OP_SET = new Set<string>(ALL_OPS);
export function isOp(s: string): s is Op {
  return OP_SET.has(s);
}

/** Ops computed independently per element after broadcasting: what fuse-elementwise may merge. */
const ELEMENTWISE = new Set<string>([...UNARY_OPS, ...BINARY_OPS, ...TERNARY_OPS, 'fused']);
export function isElementwise(op: Op): boolean {
  return ELEMENTWISE.has(op);
}

export function isLeaf(op: Op): op is LeafOp {
  return op === 'input' || op === 'param' || op === 'const';
}

/** Attribute values the text form can express. */
export type AttrValue = number | string | boolean | readonly number[] | readonly string[];
export type Attrs = Readonly<Record<string, AttrValue>>;
