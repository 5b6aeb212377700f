import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel, literal } from '../render.ts';
import { broadcastStrides, tensorVar, type TensorVar } from '../tensor-var.ts';
import { attentionShape, MASKED, MAX_SEED, type AttnShape } from './attention-shape.ts';
import { bytesOf } from './elementwise.ts';
import { shrinkWorkgroup, vecView, type VecView } from './gemm-direct.ts';

/**
 * Barrier-free attention for CPU adapters (see gemm-direct.ts for why). Each invocation owns ROWS query rows of
 * one (batch, head): their q rows and output rows live in registers (the head-dim loops are unrolled here, so no
 * private array is ever indexed dynamically), and it streams every key once, BLOCK keys at a time, with an online
 * softmax in f32. A key row loaded from storage serves all ROWS query rows, which is where the speed comes from:
 * on llvmpipe each storage load costs a per-lane loop while arithmetic runs as SIMD.
 */
export interface DirectAttentionTile {
  /** invocations per workgroup, at most; small Nq gets a smaller one */
  readonly wg: number;
  /** query rows per invocation */
  readonly rows: number;
  /** keys per online-softmax step */
  readonly block: number;
}

// measured on llvmpipe at B=2, H=4, N=512, D=64: 2 rows × 2 keys keeps the block in registers
export const DIRECT_ATTENTION_TILE: DirectAttentionTile = { wg: 64, rows: 2, block: 2 };
/** head dims above this would unroll into very long shaders */
export const DIRECT_ATTENTION_MAX_HEAD = 256;

interface Parts {
  readonly s: AttnShape;
  readonly t: DirectAttentionTile;
  readonly q: VecView;
  readonly k: VecView;
  readonly v: VecView;
  readonly mask?: TensorVar;
  readonly y: TensorVar;
  readonly scale: number;
  /** fixed subgroup size when K/V rows are shared through subgroup broadcasts, else undefined */
  readonly sg?: number;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Sum of a·b over the head dim, `w` elements per loaded value. */
function dotExpr(terms: readonly [string, string][], w: number): string {
  return terms.map(([a, b]) => (w === 4 ? `dot(${a}, ${b})` : `${a} * ${b}`)).join(' + ');
}

function maskTerm(p: Parts, r: number, c: number): string[] {
  const { mask, s } = p;
  if (!mask) return [];
  const [sb, sh, sq, sk] = broadcastStrides(mask.shape, [s.b, s.h, s.nq, s.nk]);
  const at = `(bh / ${s.h}u) * ${sb}u + (bh % ${s.h}u) * ${sh}u + qi${r} * ${sq}u + kj${c} * ${sk}u`;
  const sc = `s${r}_${c}`;
  return mask.value === 'bool' ? [`if (!${mask.load(at)}) { ${sc} = MASKED; }`] : [`${sc} += ${mask.load(at)};`];
}

/**
 * `name_e = row[e]` for the head-dim chunks `only` (all when omitted). With a fixed subgroup size SG dividing the
 * row, each lane loads every SG-th chunk and the others arrive by subgroupBroadcast: on llvmpipe a load costs a
 * per-lane loop while a broadcast is one vector shuffle, so this cuts the loads per key by SG.
 */
function loadRow(p: Parts, name: string, base: string, n: number, t: VecView, only?: number): string[] {
  const sg = p.sg;
  const es = only === undefined ? range(n) : [only];
  if (!sg || n % sg) return es.map((e) => `let ${name}_${e} = ${t.load(`${base} + ${e}u`)};`);
  const parts = only === undefined ? range(n / sg) : [Math.floor(only / sg)];
  return [
    ...(only === undefined || only % sg === 0
      ? parts.map((i) => `let ${name}l${i} = ${t.load(`${base} + ${i * sg}u + sg_lane`)};`) : []),
    ...es.map((e) => `let ${name}_${e} = subgroupBroadcast(${name}l${Math.floor(e / sg)}, ${e % sg}u);`),
  ];
}

/** Scores of BLOCK keys for every row, masked and clamped like attention.ts. */
function scores(p: Parts): string[] {
  const { s, t, q, k } = p;
  const dq = s.d / q.width;
  const tail = s.nk % t.block !== 0;
  return range(t.block).flatMap((c) => [
    `let kj${c} = ${tail ? `min(j0 + ${c}u, ${s.nk - 1}u)` : `j0 + ${c}u`};`,
    ...loadRow(p, `k${c}`, `k_base + kj${c} * ${dq}u`, dq, k),
    ...range(t.rows).flatMap((r) => [
      `var s${r}_${c} = (${dotExpr(range(dq).map((e) => [`q${r}_${e}`, `k${c}_${e}`]), q.width)}) * SCALE;`,
      ...maskTerm(p, r, c),
      `s${r}_${c} = max(s${r}_${c}, MASKED);`,
      ...(tail ? [`if (j0 + ${c}u >= NK) { s${r}_${c} = MAX_SEED; }`] : []),
    ]),
  ]);
}

/** Online-softmax update of every row with the block's scores, then p·V accumulated in f32. */
function update(p: Parts): string[] {
  const { s, t, v } = p;
  const dv = s.dv / v.width;
  const blk = range(t.block);
  return [
    ...range(t.rows).flatMap((r) => [
      `let mx${r} = max(m${r}, ${blk.map((c) => `s${r}_${c}`).reduce((a, b) => `max(${a}, ${b})`)});`,
      `let al${r} = exp(m${r} - mx${r});`,
      ...blk.map((c) => `let p${r}_${c} = exp(s${r}_${c} - mx${r});`),
      `l${r} = l${r} * al${r} + ${blk.map((c) => `p${r}_${c}`).join(' + ')};`,
      `m${r} = mx${r};`,
    ]),
    ...range(dv).flatMap((e) => [
      ...blk.flatMap((c) => loadRow(p, `v${c}`, `v_base + kj${c} * ${dv}u`, dv, v, e)),
      ...range(t.rows).map((r) => {
        const sum = blk.map((c) => `p${r}_${c} * v${c}_${e}`).join(' + ');
        return `o${r}_${e} = o${r}_${e} * al${r} + ${sum};`;
      }),
    ]),
  ];
}

function body(p: Parts, qBlocks: number, wg: number): string[] {
  const { s, t, q, v, y } = p;
  const [dq, dv] = [s.d / q.width, s.dv / v.width];
  const zero = v.width === 4 ? 'vec4<f32>(0.0)' : '0.0';
  const rows = range(t.rows);
  const comp = (c: number): string => (v.width === 4 ? `.${'xyzw'[c]}` : '');
  return [
    `let qb = wg % ${qBlocks}u; let bh = wg / ${qBlocks}u;`,
    // all invocations are active here (the only early return is per workgroup), so this is the lane index
    ...(p.sg ? ['let sg_lane = subgroupExclusiveAdd(1u);'] : []),
    `let q_row0 = qb * ${wg * t.rows}u + lidx;`,
    `let q_base = bh * ${s.nq * dq}u; let k_base = bh * ${s.nk * dq}u; let v_base = bh * ${s.nk * dv}u;`,
    ...rows.flatMap((r) => [
      // clamped rows compute a duplicate and skip the store
      `let qi${r} = min(q_row0 + ${r * wg}u, ${s.nq - 1}u);`,
      ...range(dq).map((e) => `let q${r}_${e} = ${q.load(`q_base + qi${r} * ${dq}u + ${e}u`)};`),
      `var m${r} = MAX_SEED; var l${r} = 0.0;`,
      ...range(dv).map((e) => `var o${r}_${e} = ${zero};`),
    ]),
    `for (var j0 = 0u; j0 < NK; j0 += ${t.block}u) {`,
    ...[...scores(p), ...update(p)].map((l) => `  ${l}`),
    '}',
    ...rows.flatMap((r) => [
      `if (q_row0 + ${r * wg}u < ${s.nq}u) {`,
      `  let y_base = bh * ${s.nq * s.dv}u + qi${r} * ${s.dv}u;`,
      ...range(dv).flatMap((e) => range(v.width).map((c) =>
        `  ${y.store(`y_base + ${e * v.width + c}u`, `o${r}_${e}${comp(c)} / l${r}`)}`)),
      '}',
    ]),
  ];
}


/** attention{scale}(q[B,H,Nq,D], k[B,H,Nk,D], v[B,H,Nk,Dv], mask?) → [B,H,Nq,Dv], without workgroup memory. */
export function lowerAttentionDirect(n: Node, ctx: LowerContext, t: DirectAttentionTile = DIRECT_ATTENTION_TILE):
KernelSpec {
  const [qt, kt, vt, mt] = [n.src[0]!.type, n.src[1]!.type, n.src[2]!.type, n.src[3]?.type];
  const s = attentionShape(n);
  const { b, h, nq, d } = s;
  if (s.d > DIRECT_ATTENTION_MAX_HEAD || s.dv > DIRECT_ATTENTION_MAX_HEAD) {
    throw new Error(`wgsl: direct attention supports head dims up to ${DIRECT_ATTENTION_MAX_HEAD}, got ${s.d}/${s.dv}`);
  }
  const scale = attr<number>(n, 'scale');
  const qw = d % 4 === 0 ? 4 : 1;
  const vw = s.dv % 4 === 0 ? 4 : 1;
  const q = vecView(tensorVar('x0', qt.dtype, qt.shape, ctx.elem), qw);
  const k = vecView(tensorVar('x1', kt.dtype, kt.shape, ctx.elem), qw);
  const v = vecView(tensorVar('x2', vt.dtype, vt.shape, ctx.elem), vw);
  const mask = mt ? tensorVar('x3', mt.dtype, mt.shape, ctx.elem) : undefined;
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const wg = shrinkWorkgroup(t.wg, Math.ceil(nq / t.rows));
  const qBlocks = Math.ceil(nq / (wg * t.rows));
  const sg = sharedSubgroup(ctx, wg, s.d / qw, s.dv / vw);
  const parts: Parts = { s, t, q, k, v, y, scale, ...(mask ? { mask } : {}), ...(sg ? { sg } : {}) };
  const vars = [q.v, k.v, v.v, ...(mask ? [mask] : []), y];
  const spec = buildKernel({
    name: 'attention_direct',
    hint: `${ctx.elem};scale=${scale};${t.rows}x${t.block};v${qw}${vw};sg${sg ?? 0};mask=${mask?.dtype ?? 'none'}`,
    vars,
    workgroup: [wg],
    workgroups: b * h * qBlocks,
    prelude: [
      `const NK: u32 = ${s.nk}u;`, `const SCALE: f32 = ${literal(scale, 'f32')};`,
      `const MASKED: f32 = ${MASKED};`, `const MAX_SEED: f32 = ${MAX_SEED};`,
    ],
    body: body(parts, qBlocks, wg),
    flops: 2 * b * h * nq * s.nk * (d + s.dv),
    bytes: vars.reduce((a, x) => a + x.numel * bytesOf(x.storage), 0),
  });
  return sg ? { ...spec, source: `enable subgroups;\n${spec.source}`, features: [...spec.features, 'subgroups'] } : spec;
}

/**
 * The subgroup size to share K/V rows over, when the device has one fixed size that divides the workgroup and
 * both head dims (in loaded chunks); undefined otherwise.
 */
export function sharedSubgroup(ctx: LowerContext, wg: number, dq: number, dv: number): number | undefined {
  const { caps } = ctx;
  const size = caps.subgroupMinSize;
  if (!caps.features.has('subgroups') || size < 2 || size !== caps.subgroupMaxSize) return undefined;
  return wg % size === 0 && dq % size === 0 && dv % size === 0 ? size : undefined;
}
