import { BINARY_OPS, UNARY_OPS, type Op } from '../../ir/ops.ts';
import type { Node } from '../../ir/node.ts';
import type { DeviceCaps, LowerContext } from '../target.ts';
import type { KernelSpec } from './kernel.ts';
import { DIRECT_ATTENTION_MAX_HEAD, lowerAttentionDirect } from './kernels/attention-direct.ts';
import { lowerAttention } from './kernels/attention.ts';
import { lowerAttentionColsum } from './kernels/attention-colsum.ts';
import { lowerSparseAttention } from './kernels/attention-sparse.ts';
import { lowerElementwise } from './kernels/elementwise.ts';
import { lowerFill } from './kernels/fill.ts';
import { lowerLinearDirect, lowerMatmulDirect } from './kernels/gemm-direct.ts';
import { lowerLinear, lowerMatmul } from './kernels/gemm.ts';
import { lowerNorm } from './kernels/norm.ts';
import { lowerQgemmTiled } from './kernels/qgemm-dp4a.ts';
import { lowerQgemmDirect } from './kernels/qgemm-f32.ts';
import { lowerQgemmFp8 } from './kernels/qgemm-fp8.ts';
import { lowerQgemmSgmat, sgmatSupport } from './kernels/qgemm-sgmat.ts';
import { lowerDequantize, lowerQuantize, lowerTokenScale } from './kernels/quantize.ts';
import { lowerReduce } from './kernels/reduce.ts';
import { lowerConcat, lowerGather, lowerPermute, lowerSlice, lowerTranspose } from './kernels/shape.ts';
import { lowerSoftmax } from './kernels/softmax.ts';
import { lowerTileSelect } from './kernels/tile-select.ts';
import { lowerAdaLN, lowerRope3d, lowerScheduleValue, lowerTimestepEmbedding } from './kernels/vdit.ts';

type Lowering = (n: Node, ctx: LowerContext) => KernelSpec;

export type QgemmVariant = 'sgmat' | 'dp4a' | 'direct_dp4a' | 'direct' | 'fp8';

const isFp8 = (n: Node): boolean => n.attrs['aformat'] === 'e4m3';

/**
 * qgemm's kernel by capability, then shape, ordered by measured speed: register-tiled DP4A on GPUs (70 TOP/s on
 * the H100 against 33 for the subgroup-matrix kernel, bench/results/h100-qgemm.md) → i8 subgroup matrices where
 * there is no DP4A but the 16×16×32 config exists and M fills a 16-row tile → barrier-free DP4A on CPU adapters
 * (workgroup memory only costs there) → the portable integer kernel. `--kernel qgemm=sgmat` forces the matrix units.
 * e4m3 activations (W4A8-FP8) have one kernel, which decodes them to f32 (kernels/qgemm-fp8.ts).
 */
export function qgemmVariant(n: Node, caps: DeviceCaps): QgemmVariant {
  if (isFp8(n)) return 'fp8';
  const k = n.src[0]!.type.shape.at(-1) ?? 0;
  const m = k ? n.type.shape.slice(0, -1).reduce((a, b) => a * b, 1) : 0;
  const dp4a = caps.wgslFeatures.has('packed_4x8_integer_dot_product');
  if (dp4a && !caps.isFallback) return 'dp4a';
  if (sgmatSupport(caps).ok && m >= 16) return 'sgmat';
  return dp4a ? 'direct_dp4a' : 'direct';
}

/** The integer kernels read i8 lanes as integers: a forced integer variant on e4m3 codes is an error, not a guess. */
function integer(lower: Lowering): Lowering {
  return (n, ctx) => {
    if (isFp8(n)) throw new Error('wgsl: qgemm with e4m3 activations runs only the fp8 kernel (--kernel qgemm=fp8)');
    return lower(n, ctx);
  };
}

const QGEMM: Readonly<Record<QgemmVariant | 'tiled_soft', Lowering>> = {
  sgmat: integer(lowerQgemmSgmat),
  dp4a: integer((n, ctx) => lowerQgemmTiled(n, ctx, 'dp4a')),
  tiled_soft: integer((n, ctx) => lowerQgemmTiled(n, ctx, 'soft')),
  direct_dp4a: integer((n, ctx) => lowerQgemmDirect(n, ctx, 'dp4a')),
  direct: integer((n, ctx) => lowerQgemmDirect(n, ctx, 'soft')),
  fp8: lowerQgemmFp8,
};
const QGEMM_RULES: readonly VariantRule[] = (['fp8', 'sgmat', 'dp4a', 'direct_dp4a', 'direct'] as const)
  .map((v) => ({ variant: v, when: (n: Node, ctx: LowerContext) => qgemmVariant(n, ctx.caps) === v }));

/** op → kernel generator; input/param are buffers and reshapes alias their source, so none is here. */
const KERNELS: Partial<Record<Op, Lowering>> = {
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, lowerElementwise])),
  ...Object.fromEntries(BINARY_OPS.map((op) => [op, lowerElementwise])),
  where: lowerElementwise,
  fused: lowerElementwise,
  reduce_sum: lowerReduce,
  reduce_mean: lowerReduce,
  reduce_max: lowerReduce,
  layernorm: lowerNorm,
  rmsnorm: lowerNorm,
  softmax: lowerSoftmax,
  attention_colsum: lowerAttentionColsum,
  sparse_attention: lowerSparseAttention,
  tile_select: lowerTileSelect,
  permute: lowerPermute,
  transpose: lowerTranspose,
  concat: lowerConcat,
  slice: lowerSlice,
  gather: lowerGather,
  timestep_embedding: lowerTimestepEmbedding,
  modulate: lowerAdaLN,
  gate: lowerAdaLN,
  rope3d: lowerRope3d,
  schedule_value: lowerScheduleValue,
  const: lowerFill,
  token_scale: lowerTokenScale,
  quantize: lowerQuantize,
  dequantize: lowerDequantize,
};

/**
 * Ops with several kernels: `tiled` stages operands through workgroup memory between barriers (GPUs); `direct`
 * reads storage straight into per-invocation register blocks with no barrier (CPU adapters such as llvmpipe, which
 * split a shader at every barrier and whose caches already do the reuse).
 */
const VARIANTS: Partial<Record<Op, Readonly<Record<string, Lowering>>>> = {
  linear: { tiled: lowerLinear, direct: lowerLinearDirect },
  matmul: { tiled: lowerMatmul, direct: lowerMatmulDirect },
  attention: { tiled: lowerAttention, direct: lowerAttentionDirect },
  qgemm: QGEMM,
};

interface VariantRule {
  readonly variant: string;
  readonly when: (n: Node, ctx: LowerContext) => boolean;
}

const headFits = (n: Node): boolean =>
  n.src[0]!.type.shape[3]! <= DIRECT_ATTENTION_MAX_HEAD && n.src[2]!.type.shape[3]! <= DIRECT_ATTENTION_MAX_HEAD;

/** First match wins, per op; an op with no matching rule gets `tiled`. */
const VARIANT_RULES: Partial<Record<Op, readonly VariantRule[]>> = {
  linear: [{ variant: 'direct', when: (_, ctx) => ctx.caps.isFallback }],
  matmul: [{ variant: 'direct', when: (_, ctx) => ctx.caps.isFallback }],
  attention: [{ variant: 'direct', when: (n, ctx) => ctx.caps.isFallback && headFits(n) }],
  qgemm: QGEMM_RULES,
};

/** Forced kernel variants by op, as LowerContext.variant takes them. */
export type KernelChoice = NonNullable<LowerContext['variant']>;

/**
 * `qgemm=dp4a,linear=tiled` → { qgemm: 'dp4a', linear: 'tiled' }, checked against the variant tables so a typo
 * fails before any GPU work, naming what exists.
 */
export function parseKernelChoice(text: string): KernelChoice {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z_0-9]+)=([a-z_0-9]+)$/.exec(part);
    if (!m) throw new Error(`--kernel: expected op=variant (e.g. qgemm=dp4a), got '${part}'`);
    const [, op, v] = m as unknown as [string, string, string];
    const table = VARIANTS[op as Op];
    if (!table) throw new Error(`--kernel: op '${op}' has no variants (ops with variants: ${Object.keys(VARIANTS).join(', ')})`);
    if (!table[v]) throw new Error(`--kernel: no ${v} kernel for ${op} (have ${Object.keys(table).join(', ')})`);
    out[op] = v;
  }
  return out;
}

/** Executor options that force `choice` (spread into WgslExecutor.create's options); none when unset. */
export function kernelLowering(choice?: KernelChoice): { readonly lower?: (n: Node, ctx: LowerContext) => KernelSpec } {
  return choice ? { lower: (n, ctx) => lowerNode(n, { ...ctx, variant: choice }) } : {};
}

/** The variant name lowerNode uses for `n`: the context's override, else the first matching rule, else `tiled`. */
export function chooseVariant(n: Node, ctx: LowerContext): string | undefined {
  const table = VARIANTS[n.op];
  if (!table) return undefined;
  const forced = ctx.variant?.[n.op];
  if (forced !== undefined) {
    if (!table[forced]) {
      throw new Error(`wgsl: no ${forced} kernel for op ${n.op} (have ${Object.keys(table).join(', ')})`);
    }
    return forced;
  }
  return (VARIANT_RULES[n.op] ?? []).find((r) => r.when(n, ctx))?.variant ?? 'tiled';
}

function lowering(n: Node, ctx: LowerContext): Lowering | undefined {
  const v = chooseVariant(n, ctx);
  return v === undefined ? KERNELS[n.op] : VARIANTS[n.op]![v];
}

/** The kernel for one node on this device; throws `wgsl: no kernel for op X` or `wgsl: ... needs shader-f16`. */
export function lowerNode(n: Node, ctx: LowerContext): KernelSpec {
  const lower = lowering(n, ctx);
  if (!lower) throw new Error(`wgsl: no kernel for op ${n.op}`);
  const spec = lower(n, ctx);
  if (spec.features.includes('shader-f16') && !ctx.caps.features.has('shader-f16') && !ctx.caps.hasF16) {
    throw new Error(`wgsl: ${n.op} with f16 storage needs shader-f16, which the device lacks`);
  }
  return spec;
}
