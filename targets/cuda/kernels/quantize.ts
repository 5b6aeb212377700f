import { parseExpr } from '../../../ir/expr-text.ts';
import { hasPrologue } from '../../../ir/infer.ts';
import { attr, type Node } from '../../../ir/node.ts';
import { prologueOperands } from '../../../ir/prologue.ts';
import { actFormatOf, tokenScaleDivisor } from '../../../ir/quant.ts';
import { numel } from '../../../ir/types.ts';
import { packedRowWords, type LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaLiteral } from '../render.ts';
import { renderCudaExpr } from '../render-expr.ts';
import { cudaTensor, type CudaTensor } from '../tensor-var.ts';
import { CUDA_ELEMENTWISE_BLOCK } from './elementwise.ts';
import { normStats } from './norm.ts';
import { rowBlock, rowLoop } from './reduce.ts';

/**
 * The QDQ ops (ir/ops.ts) with the producer prologue (ir/prologue.ts) inlined: token_scale and quantize read
 * v = fused{expr}(modulate(norm(x))) per element instead of a materialised x, so the chain never hits memory.
 * i8 results use the packed layout (4 per word, rows padded to whole words with zeros) addressed as bytes. CUDA's
 * `/` is IEEE-rounded (no --use_fast_math), so x / Δ matches the reference's f32 quotient without WGSL's q_div.
 * format = e4m3 (FP8 activations): qmax = 448 and the bytes are e4m3 codes, encoded in integer arithmetic on the
 * f32 bits (not cvt.satfinite, which keeps NaN) so that every backend writes the reference's bytes.
 */

/**
 * e4m3 code of q (ir/fp8.ts): nearest even (3 of 23 fraction bits kept), saturating at ±448, the sign kept, NaN → +0;
 * below 2^-6 the grid is m · 2^-9 and q · 512 is exact. And the value of a code (exact in f32).
 */
const E4M3_ENCODE = `static __device__ __forceinline__ signed char vdit_e4m3(float q) {
  const unsigned u = __float_as_uint(q), s = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0;
  if (a >= 0x43e00000u) return (signed char)(s | 0x7eu);
  if (a < 0x3c800000u) return (signed char)(s | __float2uint_rn(__int_as_float(int(a)) * 512.0f));
  return (signed char)(s | (((a + 0x7ffffu + ((a >> 20) & 1u)) >> 20) - 960u));
}`;

const E4M3_VALUE = `static __device__ __forceinline__ float vdit_e4m3_value(unsigned c) {
  const unsigned em = c & 0x7fu, sub = __float_as_uint(float(em) * 0.001953125f);
  return __int_as_float(int(((c & 0x80u) << 24) | (em < 8u ? sub : (em + 960u) << 20)));
}`;

const isE4m3 = (n: Node): boolean => actFormatOf(n.attrs) === 'e4m3';

function qmax(n: Node): number {
  const bits = attr<number>(n, 'bits');
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new Error(`cuda: ${n.op} bits must be in 2..8, got ${bits}`);
  return 2 ** (bits - 1) - 1;
}

/** The prologue's operand tensors (x first) and per-element lines defining `v` at flat index `e`, column `d`. */
interface Chain {
  readonly vars: CudaTensor[];
  /** block-wide lines before the element loops (row statistics) */
  readonly setup: string[];
  readonly value: string[];
  readonly delta?: CudaTensor;
}

function plainChain(n: Node, ctx: LowerContext): Chain {
  const x = cudaTensor('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const delta = n.op === 'quantize' ? cudaTensor('x1', n.src[1]!.type.dtype, n.src[1]!.type.shape, ctx.elem) : undefined;
  return { vars: [x], setup: [], value: [`const float v = ${x.load('e')};`], ...(delta ? { delta } : {}) };
}

function prologueChain(n: Node, ctx: LowerContext): Chain {
  const o = prologueOperands(n);
  const shape = o.x.type.shape;
  const D = shape[shape.length - 1]!;
  let i = 0;
  const bind = (s: Node): CudaTensor => cudaTensor(`x${i++}`, s.type.dtype, s.type.shape, ctx.elem);
  const x = bind(o.x);
  const affine = o.affine.map(bind);
  const mod = o.shift && o.scale ? [bind(o.shift), bind(o.scale)] as const : undefined;
  const extras = o.extras.map(bind);
  const delta = o.delta ? bind(o.delta) : undefined;
  const norm = n.attrs['norm'];
  const setup = norm === undefined ? []
    : normStats(norm === 'rmsnorm', D, attr<number>(n, 'eps'), (d) => x.load(`row * ${D}u + ${d}`));
  const value = [`float v = ${x.load('e')};`];
  if (norm !== undefined) {
    const [w, b] = affine;
    value.push(`v = (v - mean) * inv${w ? ` * ${w.load('d')}` : ''}${b ? ` + ${b.load('d')}` : ''};`);
  }
  if (mod) {
    const c = `(e / ${numel(shape) / shape[0]!}u) * ${D}u + d`;
    value.push(`{ const unsigned c = ${c}; v = v * (1.0f + ${mod[1].load('c')}) + ${mod[0].load('c')}; }`);
  }
  if (typeof n.attrs['expr'] === 'string') {
    const loads = extras.map((t, k) => `const ${t.value} p${k + 1} = ${t.load(t.broadcastOffset(shape, 'e'))};`);
    const ins = [{ name: 'v', type: 'float' as const }, ...extras.map((t, k) => ({ name: `p${k + 1}`, type: t.value }))];
    const r = renderCudaExpr(parseExpr(n.attrs['expr']), ins, 'f');
    value.push('{', ...loads, ...r.lines, `v = ${r.value};`, '}');
  }
  return { vars: [x, ...affine, ...(mod ?? []), ...extras], setup, value, ...(delta ? { delta } : {}) };
}

function chainOf(n: Node, ctx: LowerContext): Chain {
  return hasPrologue(n.attrs) ? prologueChain(n, ctx) : plainChain(n, ctx);
}

/** token_scale's divisor qmax / clip, qmax = 448 for e4m3 (ir/quant.ts tokenScaleDivisor). */
function divisor(n: Node): number {
  qmax(n);
  return tokenScaleDivisor(attr<number>(n, 'bits'), n.attrs['clip'] as number | undefined, actFormatOf(n.attrs));
}

/** token_scale{bits, clip?}(v[..., K]) → Δ[..., 1] = max|v| / (qmax / clip) (0 rows → 1): one block per row. */
export function lowerCudaTokenScale(n: Node, ctx: LowerContext): CudaKernel {
  const xs = n.src[0]!.type.shape;
  const K = xs[xs.length - 1]!;
  const c = chainOf(n, ctx);
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  return buildCudaKernel({
    name: hasPrologue(n.attrs) ? 'token_scale_prologue' : 'token_scale',
    vars: [...c.vars, y], block: rowBlock(K), blocks: numel(xs) / K,
    body: [
      'const unsigned row = blk;',
      ...c.setup,
      'float m = 0.0f;',
      rowLoop(K, [`const unsigned e = row * ${K}u + d;`, ...c.value, 'm = fmaxf(m, fabsf(v));'].join(' '), 'd'),
      'const float mx = vdit_block_max(m);',
      `if (threadIdx.x == 0) ${y.store('row', `mx == 0.0f ? 1.0f : __fdiv_rn(mx, ${cudaLiteral(divisor(n), 'float')})`)}`,
    ],
    flops: 2 * numel(xs),
  });
}

/** quantize{bits}(v, Δ) → i8, packed rows of whole words: one block per row, one byte per thread step. */
export function lowerCudaQuantize(n: Node, ctx: LowerContext): CudaKernel {
  const xs = n.src[0]!.type.shape;
  const K = xs[xs.length - 1]!;
  const K4 = packedRowWords('i8', K) * 4;
  const q = qmax(n);
  const c = chainOf(n, ctx);
  const d = c.delta!;
  const y = cudaTensor('y', 'i8', [numel(xs) / K, K4], ctx.elem, 'signed char');
  // NaN quantizes to 0 (runtime/reference-qdq.ts); the bit test survives compilers folding v != v away
  const quant = isE4m3(n)
    ? [`${y.name}[row * ${K4}u + d] = vdit_e4m3(__fdiv_rn(v, ${d.load(d.broadcastOffset(xs, 'e'))}));`]
    : [
      `const float r = rintf(__fdiv_rn(v, ${d.load(d.broadcastOffset(xs, 'e'))}));`,
      `const bool nan = (__float_as_uint(v) & 0x7fffffffu) > 0x7f800000u;`,
      `${y.name}[row * ${K4}u + d] = nan ? (signed char)0 : (signed char)__float2int_rn(fminf(fmaxf(r, ${-q - 1}.0f), ${q}.0f));`,
    ];
  const base = hasPrologue(n.attrs) ? 'quantize_prologue' : 'quantize';
  return buildCudaKernel({
    name: isE4m3(n) ? `${base}_e4m3` : base,
    vars: [...c.vars, d, y], block: rowBlock(K), blocks: numel(xs) / K,
    ...(isE4m3(n) ? { prelude: [E4M3_ENCODE] } : {}),
    body: [
      'const unsigned row = blk;',
      ...c.setup,
      rowLoop(K, [`const unsigned e = row * ${K}u + d;`, ...c.value, ...quant].join(' '), 'd'),
      ...(K4 > K ? [`if (threadIdx.x < ${K4 - K}u) ${y.name}[row * ${K4}u + ${K}u + threadIdx.x] = 0;`] : []),
    ],
    flops: 3 * numel(xs),
  });
}

/** dequantize(q, Δ) = f32(q)·Δ for i32, packed i8 and packed i4 values. */
export function lowerCudaDequantize(n: Node, ctx: LowerContext): CudaKernel {
  const [qt, dt] = [n.src[0]!.type, n.src[1]!.type];
  const k = qt.shape[qt.shape.length - 1]!;
  const total = numel(qt.shape);
  const load = (i: string): string => {
    if (qt.dtype === 'i32') return `float(x0[${i}])`;
    const row = `(${i} / ${k}u)`;
    const col = `(${i} % ${k}u)`;
    if (qt.dtype === 'i8' && isE4m3(n)) {
      return `vdit_e4m3_value((unsigned char)x0[${row} * ${packedRowWords('i8', k) * 4}u + ${col}])`;
    }
    if (qt.dtype === 'i8') return `float(x0[${row} * ${packedRowWords('i8', k) * 4}u + ${col}])`;
    if (qt.dtype === 'i4') {
      return `float(int(x0[${row} * ${packedRowWords('i4', k)}u + ${col} / 8u] << (28u - 4u * (${col} % 8u))) >> 28)`;
    }
    throw new Error(`cuda: dequantize expects i8, i4 or i32 values, got ${qt.dtype}`);
  };
  if (isE4m3(n) && qt.dtype !== 'i8') throw new Error(`cuda: dequantize of e4m3 codes expects i8 bytes, got ${qt.dtype}`);
  const raw = qt.dtype === 'i32' ? undefined : qt.dtype === 'i8' ? 'signed char' : 'unsigned';
  const qv = cudaTensor('x0', qt.dtype, qt.shape, ctx.elem, raw);
  const d = cudaTensor('x1', dt.dtype, dt.shape, ctx.elem);
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const bs = CUDA_ELEMENTWISE_BLOCK;
  return buildCudaKernel({
    name: isE4m3(n) ? 'dequantize_e4m3' : 'dequantize', vars: [qv, d, y], block: bs, blocks: Math.ceil(total / bs),
    ...(isE4m3(n) ? { prelude: [E4M3_VALUE] } : {}),
    body: [
      `const unsigned i = blk * ${bs}u + threadIdx.x;`,
      `if (i >= ${total}u) return;`,
      y.store('i', `${load('i')} * ${d.load(d.broadcastOffset(qt.shape, 'i'))}`),
    ],
    flops: total,
  });
}
