import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaLiteral } from '../render.ts';
import { cudaTensor } from '../tensor-var.ts';
import { MMA_ATTENTION, mmaPlan, type MmaVariant, PAD, type Plan } from './attention-mma-plan.ts';

export { MMA_ATTENTION } from './attention-mma-plan.ts';

/** Kernel names of the tensor-core attention: `vdit compare` holds them to the f16-input tolerance. */
export const MMA_ATTENTION_KERNELS: ReadonlySet<string> = new Set(['attention_mma', 'sparse_attention_mma']);

const LOG2E = Math.LOG2E;

/** Why `n` cannot take the tensor-core kernel, or undefined when it can. */
export function mmaAttentionUnfit(n: Node, ctx: LowerContext): string | undefined {
  const [D, Dv] = [n.src[0]!.type.shape[3]!, n.src[2]!.type.shape[3]!];
  const max = MMA_ATTENTION.maxHead;
  if (D % 16 !== 0 || Dv % 16 !== 0 || D > max || Dv > max) {
    return `head dims ${D}, ${Dv} are not multiples of 16 up to ${max}`;
  }
  if (ctx.elem !== 'f32') return 'f32 storage only';
  if (n.op === 'attention' && n.src.length > 3) return 'a mask operand (the f32 kernel applies it)';
  if (n.op === 'sparse_attention' && attr<number>(n, 'tile') < 16) return `tile ${attr<number>(n, 'tile')} < 16 keys`;
  return undefined;
}

/**
 * A ctx.variant name of the tensor-core kernel, `mma[-w4|-w8][-pipe|-nopipe]`: 'mma' is the default choice (8 warps
 * where Nq ≥ 128 outside per-query-tile lists and for those with a qtile other than the tile, else 4; staging by
 * defaultPipe), -w4 / -w8 force the warps per block (per-query-tile lists still cap them by the query tile's rows),
 * -pipe double-buffers the K/V staging through registers (the next chunk's loads issued before this chunk's MMAs),
 * -nopipe stages each chunk between two barriers. Undefined for any other name; pipe undefined: the default.
 */
export function parseMmaVariant(name: string): Partial<MmaVariant> | undefined {
  const m = /^mma(?:-w([48]))?(-pipe|-nopipe)?$/.exec(name);
  if (!m) return undefined;
  return { ...(m[1] ? { warps: Number(m[1]) as 4 | 8 } : {}), ...(m[2] ? { pipe: m[2] === '-pipe' } : {}) };
}

/**
 * The default staging: double-buffered for blocks of at most 4 warps over per-query-tile lists, where so few threads
 * cannot hide a chunk's loads, when the double buffer keeps the chunk size; single-buffered otherwise, where the
 * double buffer's registers cost more than the overlap gains. Measured at 4 and 8 warps on an H100 (cogvideox-2b, one
 * self-attention, the sparse kernel of a frozen pruned step, bench/attention-sparse-cuda.ts --residual, one call):
 * one list per 64 queries (4 warps) 1.87 ms double-buffered vs 2.32 single at keep 0.125, 3.60 vs 4.50 at 0.25; per
 * 128 queries (8 warps) 1.79 vs 1.52 and 3.48 vs 2.97; dense at 8 warps 25.4 vs 20.5 ms (B=2, bench/results/cuda.md).
 */
export function defaultPipe(n: Node, v: Partial<MmaVariant>): boolean {
  if (n.op !== 'sparse_attention' || n.src[3]!.type.shape.length !== 4) return false;
  const [single, piped] = [mmaPlan(n, { ...v, pipe: false }), mmaPlan(n, { ...v, pipe: true })];
  return single.warps <= 4 && piped.KC === single.KC;
}

/** Whether the op lowers to the tensor-core kernel: forced by ctx.variant (mma… / 'f32'), else when it fits. */
export function useMmaAttention(n: Node, ctx: LowerContext): boolean {
  const forced = ctx.variant?.[n.op];
  if (forced === undefined) return mmaAttentionUnfit(n, ctx) === undefined;
  if (forced === 'f32') return false;
  if (!parseMmaVariant(forced)) {
    throw new Error(`cuda: ${n.op} variant '${forced}' is not one of mma[-w4|-w8][-pipe|-nopipe], f32`);
  }
  const why = mmaAttentionUnfit(n, ctx);
  if (why) throw new Error(`cuda: ${n.op} variant ${forced} does not fit: ${why}`);
  return true;
}

/**
 * Q rows g and g + 8 of the warp as A fragments, f32 pairs rounded to f16 once (zeros past qend). A sparse block
 * whose list is empty reads no Q (it walks no chunk and stores rows of 0): a pruned step's refresh launch then
 * costs the zeros it writes, not Q besides.
 */
function loadQ(p: Plan): string[] {
  const live = p.prologue.length ? 'live != 0u && ' : '';
  const ks = p.D / 16;
  return [
    `unsigned qa[${ks}][4];`,
    `#pragma unroll`,
    `for (int d = 0; d < ${ks}; ++d) {`,
    '  #pragma unroll',
    '  for (int r = 0; r < 4; ++r) {',
    `    const unsigned row = (r & 1) ? r1 : r0, col = 16u * d + 8u * (r >> 1) + 2u * t4;`,
    `    const float2 x = ${live}row < qend ? *reinterpret_cast<const float2*>(q + (bh * ${p.Nq}u + row) * ${p.D}u + col)`,
    '                                : float2{0.0f, 0.0f};',
    '    qa[d][r] = vdit_f16x2(x.x, x.y);',
    '  }',
    '}',
  ];
}

/** One operand's chunk into shared memory: float4 reads along rows (coalesced), stored as two f16x2 words. */
function stageLines(p: Plan, src: string, dst: string, width: number): string[] {
  const [n, threads] = [(p.KC * width) / 4, 32 * p.warps];
  return [
    '  #pragma unroll',
    `  for (unsigned i = 0; i < ${Math.ceil(n / threads)}u; ++i) {`,
    `    const unsigned e = threadIdx.x + ${threads}u * i;`,
    ...(n % threads ? [`    if (e >= ${n}u) break;`] : []),
    `    const unsigned key = e / ${width / 4}u, col = (e % ${width / 4}u) * 4u;`,
    '    uint2 h = {0u, 0u};',
    '    if (kbase + key < kend) {',
    `      const float* row = ${src} + (bh * ${p.Nk}u + kbase + key) * ${width}u;`,
    '      const float4 x = *reinterpret_cast<const float4*>(row + col);',
    '      h.x = vdit_f16x2(x.x, x.y);',
    '      h.y = vdit_f16x2(x.z, x.w);',
    '    }',
    `    *reinterpret_cast<uint2*>(&${dst}[key * ${width + PAD}u + col]) = h;`,
    '  }',
  ];
}

/** The float4 elements a thread stages of one operand's chunk, and whether the last round has idle threads. */
function stageCount(p: Plan, width: number): { n: number; per: number; ragged: boolean } {
  const [n, threads] = [(p.KC * width) / 4, 32 * p.warps];
  return { n, per: Math.ceil(n / threads), ragged: n % threads !== 0 };
}

/** The prefetch: chunk keys from `base` (live below `end`) of one operand as f32 registers `regs` (zeros past end). */
function prefetchLines(p: Plan, src: string, regs: string, width: number, base: string, end: string): string[] {
  const { n, per, ragged } = stageCount(p, width);
  return [
    '    #pragma unroll',
    `    for (unsigned i = 0; i < ${per}u; ++i) {`,
    `      const unsigned e = threadIdx.x + ${32 * p.warps}u * i;`,
    `      const unsigned key = e / ${width / 4}u, col = (e % ${width / 4}u) * 4u;`,
    `      ${regs}[i] = ${ragged ? `e < ${n}u && ` : ''}${base} + key < ${end}`,
    `          ? *reinterpret_cast<const float4*>(${src} + (bh * ${p.Nk}u + ${base} + key) * ${width}u + col)`,
    '          : float4{0.0f, 0.0f, 0.0f, 0.0f};',
    '    }',
  ];
}

/** The prefetched registers `regs` into shared `dst` as f16 pairs. */
function depositLines(p: Plan, regs: string, dst: string, width: number): string[] {
  const { n, per, ragged } = stageCount(p, width);
  return [
    '    #pragma unroll',
    `    for (unsigned i = 0; i < ${per}u; ++i) {`,
    `      const unsigned e = threadIdx.x + ${32 * p.warps}u * i;`,
    ...(ragged ? [`      if (e >= ${n}u) break;`] : []),
    `      const unsigned key = e / ${width / 4}u, col = (e % ${width / 4}u) * 4u;`,
    `      *reinterpret_cast<uint2*>(&${dst}[key * ${width + PAD}u + col]) =`,
    `          uint2{vdit_f16x2(${regs}[i].x, ${regs}[i].y), vdit_f16x2(${regs}[i].z, ${regs}[i].w)};`,
    '    }',
  ];
}

/** S = Q·Kᵀ over the chunk: per 16 dims, one ldmatrix.x4 gives the K fragments of two 8-key column tiles. */
function scoreLines(p: Plan): string[] {
  return [
    `  float s[${p.KC / 8}][4];`,
    `  for (int j = 0; j < ${p.KC / 8}; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;`,
    '  #pragma unroll',
    `  for (int d = 0; d < ${p.D / 16}; ++d) {`,
    '    #pragma unroll',
    `    for (int j = 0; j < ${p.KC / 8}; j += 2) {`,
    '      unsigned b[4];',
    // lane l gives row l % 8 of matrix l / 8: key tile j + (l >> 4), dims 16d + 8((l >> 3) & 1)..+7
    `      vdit_ldmatrix_x4(b, &Ks[(8u * j + 8u * (lane >> 4) + (lane & 7u)) * ${p.D + PAD}u + 16u * d +`,
    '                            8u * ((lane >> 3) & 1u)]);',
    '      vdit_mma_f16_16816(s[j], qa[d], b);',
    '      vdit_mma_f16_16816(s[j + 1], qa[d], b + 2);',
    '    }',
    '  }',
  ];
}

/**
 * The online softmax in the log2 domain (scale·log2e folded into one multiply, exp2f): dead keys −∞, the row max
 * over the 4 lanes of a row, one rescale of o and of this lane's partial row sum (summed across lanes at the end).
 */
function softmaxLines(p: Plan, scale: number): string[] {
  return [
    `  const float sl2 = ${cudaLiteral(scale * LOG2E, 'float')};`,
    '  float mx[2] = {-VDIT_INF, -VDIT_INF};',
    '  #pragma unroll',
    `  for (int j = 0; j < ${p.KC / 8}; ++j) {`,
    '    #pragma unroll',
    '    for (int i = 0; i < 4; ++i) {',
    '      const float sc = kbase + 8u * j + 2u * t4 + (i & 1) < kend ? s[j][i] * sl2 : -VDIT_INF;',
    '      s[j][i] = sc;',
    '      mx[i >> 1] = fmaxf(mx[i >> 1], sc);',
    '    }',
    '  }',
    '  float corr[2];',
    '  for (int h = 0; h < 2; ++h) {',
    '    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));',
    '    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));',
    '    const float mnew = fmaxf(m[h], mx[h]);',
    '    corr[h] = exp2f(m[h] - mnew);',
    '    m[h] = mnew;',
    '    l[h] *= corr[h];',
    '  }',
    '  #pragma unroll',
    `  for (int j = 0; j < ${p.Dv / 8}; ++j) for (int i = 0; i < 4; ++i) o[j][i] *= corr[i >> 1];`,
    '  #pragma unroll',
    `  for (int j = 0; j < ${p.KC / 8}; ++j) {`,
    '    #pragma unroll',
    '    for (int i = 0; i < 4; ++i) {',
    '      s[j][i] = exp2f(s[j][i] - m[i >> 1]);',
    '      l[i >> 1] += s[j][i];',
    '    }',
    '  }',
  ];
}

/**
 * O += P·V: the score accumulators of 8-key tiles 2k and 2k + 1 are, as f16 pairs, the A fragment of keys 16k..+15
 * (the C layout of m16n8k16 is its A layout); V fragments come from ldmatrix.trans of the row-major chunk.
 */
function pvLines(p: Plan): string[] {
  return [
    '  #pragma unroll',
    `  for (int kk = 0; kk < ${p.KC / 16}; ++kk) {`,
    '    const unsigned pa[4] = {vdit_f16x2(s[2 * kk][0], s[2 * kk][1]), vdit_f16x2(s[2 * kk][2], s[2 * kk][3]),',
    '                            vdit_f16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),',
    '                            vdit_f16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};',
    '    #pragma unroll',
    `    for (int j = 0; j < ${p.Dv / 8}; j += 2) {`,
    '      unsigned b[4];',
    // lane l gives row l % 8 of matrix l / 8: keys 16kk + 8((l >> 3) & 1)..+7, values 8(j + (l >> 4))..+7
    `      vdit_ldmatrix_x4_trans(b, &Vs[(16u * kk + 8u * ((lane >> 3) & 1u) + (lane & 7u)) * ${p.Dv + PAD}u +`,
    '                                  8u * j + 8u * (lane >> 4)]);',
    '      vdit_mma_f16_16816(o[j], pa, b);',
    '      vdit_mma_f16_16816(o[j + 1], pa, b + 2);',
    '    }',
    '  }',
  ];
}

/** The row sums across the 4 lanes of a row, then o / l as float2 stores of live rows (0 for a row with no keys). */
function storeLines(p: Plan, y: string): string[] {
  return [
    'for (int h = 0; h < 2; ++h) {',
    '  l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);',
    '  l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);',
    '}',
    '#pragma unroll',
    `for (int j = 0; j < ${p.Dv / 8}; ++j) {`,
    '  for (int h = 0; h < 2; ++h) {',
    '    const unsigned row = h ? r1 : r0;',
    `    if (row < qend) *reinterpret_cast<float2*>(${y} + (bh * ${p.Nq}u + row) * ${p.Dv}u + 8u * j + 2u * t4) =`,
    '        (l[h] > 0.0f ? float2{o[j][2 * h] / l[h], o[j][2 * h + 1] / l[h]} : float2{0.0f, 0.0f});',
    '  }',
    '}',
  ];
}

/** The K/V staging buffers in shared memory (f16 bits, 16-byte aligned for ldmatrix: uint4 storage), once or twice. */
function stagingDecl(p: Plan): string[] {
  const [ks, vs] = [(p.KC * (p.D + PAD)) / 8, (p.KC * (p.Dv + PAD)) / 8];
  const copies = p.pipe ? 2 : 1;
  return [
    `__shared__ uint4 Ks4[${copies * ks}], Vs4[${copies * vs}];`,
    'unsigned short* const Kb = reinterpret_cast<unsigned short*>(Ks4);',
    'unsigned short* const Vb = reinterpret_cast<unsigned short*>(Vs4);',
  ];
}

/** The single-buffer walk: each live chunk is loaded and stored between two barriers, then computed. */
function singleLoop(p: Plan, compute: readonly string[]): string[] {
  return [
    'unsigned short* const Ks = Kb;',
    'unsigned short* const Vs = Vb;',
    // the chunk's bounds are the block's (one list per block), so skipping an empty chunk is uniform
    `for (unsigned c = 0; c < ${p.chunks}; ++c) {`,
    ...p.chunk.map((l) => `  ${l}`),
    '  if (kbase >= kend) continue;',
    '  __syncthreads();  // the previous chunk is read',
    ...stageLines(p, 'k', 'Ks', p.D),
    ...stageLines(p, 'v', 'Vs', p.Dv),
    '  __syncthreads();',
    ...compute,
    '}',
  ];
}

/**
 * The double-buffered walk: the next live chunk's float4 loads are issued into registers before this chunk's
 * MMAs and stored (as f16) into the other buffer after them, so global latency hides behind the tensor cores;
 * one barrier a chunk (it both publishes the next buffer and retires this one before it is overwritten).
 */
function pipelinedLoop(p: Plan, compute: readonly string[]): string[] {
  const [ks, vs] = [(p.KC * (p.D + PAD)) / 8, (p.KC * (p.Dv + PAD)) / 8];
  const seek = (from: string): string[] => [
    `  for (${from}; c < ${p.chunks}; ++c) {`,
    ...p.chunk.map((l) => `    ${l}`),
    '    if (kbase < kend) { kb = kbase; ke = kend; break; }',
    '  }',
  ];
  const fetch = [...prefetchLines(p, 'k', 'kx', p.D, 'kb', 'ke'), ...prefetchLines(p, 'v', 'vx', p.Dv, 'kb', 'ke')];
  return [
    `float4 kx[${stageCount(p, p.D).per}], vx[${stageCount(p, p.Dv).per}];`,
    // c: the next live chunk (the block's lists, so uniform), kb..ke its keys
    'unsigned c = 0u, kb = 0u, ke = 0u;',
    ...seek('').map((l) => l.slice(2)),
    `if (c < ${p.chunks}) {`,
    ...fetch.map((l) => l.slice(2)),
    ...depositLines(p, 'kx', 'Kb', p.D).map((l) => l.slice(2)),
    ...depositLines(p, 'vx', 'Vb', p.Dv).map((l) => l.slice(2)),
    '}',
    '__syncthreads();',
    `for (unsigned buf = 0u; c < ${p.chunks}; buf ^= 1u) {`,
    '  const unsigned cb = kb, ce = ke;',
    ...seek('++c'),
    `  if (c < ${p.chunks}) {`,
    ...fetch,
    '  }',
    '  {',
    '    const unsigned kbase = cb, kend = ce;',
    `    const unsigned short* const Ks = Kb + buf * ${8 * ks}u;`,
    `    const unsigned short* const Vs = Vb + buf * ${8 * vs}u;`,
    ...compute.map((l) => `  ${l}`),
    '  }',
    `  if (c < ${p.chunks}) {`,
    `    unsigned short* const Kn = Kb + (buf ^ 1u) * ${8 * ks}u;`,
    `    unsigned short* const Vn = Vb + (buf ^ 1u) * ${8 * vs}u;`,
    ...depositLines(p, 'kx', 'Kn', p.D),
    ...depositLines(p, 'vx', 'Vn', p.Dv),
    '  }',
    '  __syncthreads();  // the next buffer is written and this one read',
    '}',
  ];
}

/**
 * The chunk walk: the plan's, or, for a list that may name every key tile, the dense walk when the block's list is
 * 0, 1, …, T − 1 (the same chunks in the same order, so the same sums) and the plan's otherwise. The dense walk's
 * constant trip count and chunk bounds are what the dense kernel runs: the all-tile list of a refresh step was 7%
 * slower than it through the list (bench/results/prune.md).
 */
function walkLines(p: Plan, compute: readonly string[]): string[] {
  const loop = (q: Plan): string[] => (q.pipe ? pipelinedLoop(q, compute) : singleLoop(q, compute));
  if (!p.whole) return [...stagingDecl(p), ...loop(p)];
  const indent = (lines: string[]): string[] => lines.map((l) => `  ${l}`);
  // with T entries, every entry i being tile i is the whole list in order
  return [...stagingDecl(p), 'if (inorder) {',
    ...indent(loop({ ...p, ...p.whole })), '} else {', ...indent(loop(p)), '}'];
}

/**
 * attention{scale}(q, k, v) and sparse_attention{scale, tile}(q, k, v, tiles[, t]) on f16 tensor cores, in the
 * FlashAttention-2 shape: a warp owns 16 query rows, 4 or 8 warps a block (attention-mma-plan.ts); K/V chunks are
 * staged in shared memory as f16 (converted on the load: the runner stores f32), double-buffered only when the
 * variant says -pipe; S = Q·Kᵀ and O += P·V are mma.m16n8k16 f16·f16 → f32, and the online softmax runs in f32
 * registers. q, k, v and the probabilities P are rounded to f16 (unit roundoff 2^-11;
 * compiler/compare/tolerance.ts bounds the effect); scores, the softmax and o accumulate in f32. The dense op walks
 * every key chunk, the sparse ones only the chunks of the kept tiles of the block's list (attention-sparse.ts's
 * semantics: −1 and out-of-range entries are skipped, keys past Nk masked). A row that sees no key (a list of −1
 * only) gives 0, as the reference does. Every warp runs every chunk (its barriers and the MMA are warp-wide), rows
 * past the end compute on zeros and are not stored.
 */
export function lowerCudaAttentionMma(n: Node, ctx: LowerContext): CudaKernel {
  const sparse = n.op === 'sparse_attention';
  const forced = ctx.variant?.[n.op];
  const chosen = forced === undefined ? {} : parseMmaVariant(forced);
  if (!chosen) throw new Error(`cuda: ${n.op} variant '${forced}' is not a tensor-core variant`);
  const p = mmaPlan(n, { ...chosen, pipe: chosen.pipe ?? defaultPipe(n, chosen) });
  if (p.smem > MMA_ATTENTION.smem) {
    throw new Error(`cuda: ${n.op} mma needs ${p.smem} bytes of shared memory (staging and list), over ${MMA_ATTENTION.smem}`);
  }
  const names = ['q', 'k', 'v', 'tiles', 't'];
  const vars = n.src.map((s, i) => cudaTensor(names[i]!, s.type.dtype, s.type.shape, ctx.elem));
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const keys = sparse ? Math.min(n.src[3]!.type.shape.at(-1)! * attr<number>(n, 'tile'), p.Nk) : p.Nk;
  const compute = [...scoreLines(p), ...softmaxLines(p, attr<number>(n, 'scale')), ...pvLines(p)];
  return buildCudaKernel({
    name: sparse ? 'sparse_attention_mma' : 'attention_mma', vars: [...vars, y], block: 32 * p.warps,
    blocks: p.blocks,
    body: [
      'const unsigned lane = threadIdx.x & 31u, t4 = lane & 3u;',
      ...p.head,
      ...p.prologue,
      `const unsigned r0 = q0 + 16u * (threadIdx.x >> 5) + (lane >> 2), r1 = r0 + 8u;`,
      ...loadQ(p),
      `float o[${p.Dv / 8}][4];`,
      `for (int j = 0; j < ${p.Dv / 8}; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;`,
      'float m[2] = {-VDIT_INF, -VDIT_INF}, l[2] = {0.0f, 0.0f};',
      ...walkLines(p, compute),
      ...storeLines(p, 'y'),
    ],
    flops: 2 * p.B * p.H * p.Nq * keys * (p.D + p.Dv),
  });
}
