import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel, literal } from '../render.ts';
import { broadcastStrides, tensorVar, type TensorVar } from '../tensor-var.ts';
import { attentionShape, MASKED, MAX_SEED, type AttnShape } from './attention-shape.ts';
import { bytesOf } from './elementwise.ts';

/**
 * Fused flash attention. One workgroup per (batch, head, block of Q_BLOCK queries); K/V tiles of KV_BLOCK keys
 * stream through workgroup memory; each query row keeps a running max and sum in f32 (online softmax) and its
 * output row in registers, spread over THREADS_PER_ROW invocations. No Nq×Nk score matrix ever exists.
 */
export const THREADS_PER_ROW = 8;
/** (Q_BLOCK, KV_BLOCK) candidates, largest first; the first whose tiles fit workgroup memory is used. */
export const ATTENTION_BLOCKS: readonly (readonly [number, number])[] = [[16, 32], [16, 16], [8, 16], [16, 8], [8, 8]];

/** Bytes of workgroup memory for one block configuration (K rows padded by one against bank conflicts). */
export function attentionSharedBytes(s: AttnShape, qBlock: number, kvBlock: number): number {
  return 4 * (qBlock * s.d + kvBlock * (s.d + 1) + kvBlock * s.dv + THREADS_PER_ROW + qBlock * kvBlock);
}

function pickBlocks(s: AttnShape, budget: number): readonly [number, number] {
  const fit = ATTENTION_BLOCKS.find(([q, k]) => attentionSharedBytes(s, q, k) <= budget);
  if (!fit) throw new Error(`wgsl: attention head dims ${s.d}/${s.dv} need more than ${budget} B of workgroup memory`);
  return fit;
}

function maskScore(mask: TensorVar | undefined, s: AttnShape): string[] {
  if (!mask) return [];
  const [sb, sh, sq, sk] = broadcastStrides(mask.shape, [s.b, s.h, s.nq, s.nk]);
  const at = `(bh / ${s.h}u) * ${sb}u + (bh % ${s.h}u) * ${sh}u + qi * ${sq}u + kj * ${sk}u`;
  return mask.value === 'bool' ? [`if (!${mask.load(at)}) { sc = MASKED; }`] : [`sc += ${mask.load(at)};`];
}

function tileLoads(q: TensorVar, k: TensorVar, v: TensorVar, s: AttnShape): string[] {
  return [
    '  workgroupBarrier();',
    '  for (var e = lidx; e < KV_BLOCK * D; e += WG) {',
    '    let r = e / D; let c = e % D; let kj = j0 + r;',
    `    var x = 0.0; if (kj < ${s.nk}u) { x = ${k.load(`k_base + kj * D + c`)}; }`,
    '    k_tile[r * K_STRIDE + c] = x;',
    '  }',
    '  for (var e = lidx; e < KV_BLOCK * DV; e += WG) {',
    '    let r = e / DV; let c = e % DV; let kj = j0 + r;',
    `    var x = 0.0; if (kj < ${s.nk}u) { x = ${v.load(`v_base + kj * DV + c`)}; }`,
    '    v_tile[e] = x;',
    '  }',
    '  workgroupBarrier();',
  ];
}

function scoreTile(s: AttnShape, scale: number, mask: TensorVar | undefined): string[] {
  return [
    '  for (var e = lidx; e < Q_BLOCK * KV_BLOCK; e += WG) {',
    '    let r = e / KV_BLOCK; let c = e % KV_BLOCK; let qi = q0 + r; let kj = j0 + c;',
    '    var sc = MASKED;',
    `    if (qi < ${s.nq}u && kj < ${s.nk}u) {`,
    '      var dot = 0.0;',
    '      for (var d = 0u; d < D; d++) { dot = fma(q_tile[r * D + d], k_tile[c * K_STRIDE + d], dot); }',
    `      sc = dot * ${literal(scale, 'f32')};`,
    ...maskScore(mask, s).map((l) => `      ${l}`),
    '      sc = max(sc, MASKED);',
    '    }',
    '    s_tile[e] = sc;',
    '  }',
    '  workgroupBarrier();',
  ];
}

/**
 * The online-softmax update of one staged K/V chunk starting at key j0 and ending before `end` (NK, or a sparse
 * tile's end), indented by `pad`. Every lane of a row repeats the row's max/sum update: cheaper than another
 * barrier round.
 */
export function onlineSoftmax(end: string, pad = '  '): string[] {
  return [
    `let kn = min(KV_BLOCK, ${end} - j0);`,
    'var tmax = m;',
    'for (var c = 0u; c < kn; c++) { tmax = max(tmax, s_tile[row * KV_BLOCK + c]); }',
    'let alpha = exp(m - tmax);',
    'l *= alpha;',
    'for (var r = 0u; r < REGS; r++) { acc[r] *= alpha; }',
    'for (var c = 0u; c < kn; c++) {',
    '  let p = exp(s_tile[row * KV_BLOCK + c] - tmax);',
    '  l += p;',
    '  for (var r = 0u; r < REGS; r++) { acc[r] = fma(p, v_tile[c * DV + lane + r * THREADS_PER_ROW], acc[r]); }',
    '}',
    'm = tmax;',
  ].map((l) => pad + l);
}

/** Constants and workgroup tiles of the flash kernels (this file and attention-sparse.ts); `extra` constants first. */
export function flashPrelude(s: AttnShape, qBlock: number, kvBlock: number, extra: readonly string[] = []): string[] {
  return [
    `const D: u32 = ${s.d}u;`, `const DV: u32 = ${s.dv}u;`, `const NK: u32 = ${s.nk}u;`, ...extra,
    `const K_STRIDE: u32 = ${s.d + 1}u;`,
    `const Q_BLOCK: u32 = ${qBlock}u;`, `const KV_BLOCK: u32 = ${kvBlock}u;`, `const WG: u32 = ${qBlock * THREADS_PER_ROW}u;`,
    `const THREADS_PER_ROW: u32 = ${THREADS_PER_ROW}u;`, `const REGS: u32 = ${Math.ceil(s.dv / THREADS_PER_ROW)}u;`,
    `const MASKED: f32 = ${MASKED};`,
    'var<workgroup> q_tile: array<f32, Q_BLOCK * D>;',
    'var<workgroup> k_tile: array<f32, KV_BLOCK * K_STRIDE>;',
    // padded by one row of lanes: the last key's unused register columns read past DV
    'var<workgroup> v_tile: array<f32, KV_BLOCK * DV + THREADS_PER_ROW>;',
    'var<workgroup> s_tile: array<f32, Q_BLOCK * KV_BLOCK>;',
  ];
}

/** The workgroup's (batch·head, query block), its Q tile staged, the running max / sum / accumulators. */
export function flashStart(q: TensorVar, s: AttnShape, qBlocks: number): string[] {
  return [
    `let qb = wg % ${qBlocks}u; let bh = wg / ${qBlocks}u;`,
    'let q0 = qb * Q_BLOCK;',
    `let q_base = bh * ${s.nq * s.d}u; let k_base = bh * ${s.nk * s.d}u; let v_base = bh * ${s.nk * s.dv}u;`,
    'for (var e = lidx; e < Q_BLOCK * D; e += WG) {',
    '  let qi = q0 + e / D;',
    `  var x = 0.0; if (qi < ${s.nq}u) { x = ${q.load('q_base + qi * D + e % D')}; }`,
    '  q_tile[e] = x;',
    '}',
    'let row = lidx / THREADS_PER_ROW; let lane = lidx % THREADS_PER_ROW;',
    `var m = ${MAX_SEED}; var l = 0.0;`,
    'var acc: array<f32, REGS>;',
  ];
}

/**
 * Each row's normalised accumulators into y; a row that saw no key (l = 0: a sparse list of −1 only, e.g. a
 * schedule range that keeps nothing) stores 0, as the reference does, not 0/0. Dense rows always have l > 0.
 */
export function flashStore(y: TensorVar, s: AttnShape): string[] {
  return [
    'let qi = q0 + row;',
    `if (qi < ${s.nq}u) {`,
    '  for (var r = 0u; r < REGS; r++) {',
    '    let dd = lane + r * THREADS_PER_ROW;',
    `    if (dd < DV) { ${y.store(`bh * ${s.nq * s.dv}u + qi * DV + dd`, 'select(0.0, acc[r] / l, l > 0.0)')} }`,
    '  }',
    '}',
  ];
}

/** attention{scale}(q[B,H,Nq,D], k[B,H,Nk,D], v[B,H,Nk,Dv], mask?) → [B,H,Nq,Dv]. */
export function lowerAttention(n: Node, ctx: LowerContext): KernelSpec {
  const [qt, kt, vt, mt] = [n.src[0]!.type, n.src[1]!.type, n.src[2]!.type, n.src[3]?.type];
  const s = attentionShape(n);
  const { b, h, nq, d } = s;
  const scale = attr<number>(n, 'scale');
  const [qBlock, kvBlock] = pickBlocks(s, ctx.caps.limits.maxComputeWorkgroupStorageSize);
  const wg = qBlock * THREADS_PER_ROW;
  const q = tensorVar('x0', qt.dtype, qt.shape, ctx.elem);
  const k = tensorVar('x1', kt.dtype, kt.shape, ctx.elem);
  const v = tensorVar('x2', vt.dtype, vt.shape, ctx.elem);
  const mask = mt ? tensorVar('x3', mt.dtype, mt.shape, ctx.elem) : undefined;
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const qBlocks = Math.ceil(nq / qBlock);
  const prelude = flashPrelude(s, qBlock, kvBlock);
  const body = [
    ...flashStart(q, s, qBlocks),
    'for (var j0 = 0u; j0 < NK; j0 += KV_BLOCK) {',
    ...tileLoads(q, k, v, s),
    ...scoreTile(s, scale, mask),
    ...onlineSoftmax('NK'),
    '}',
    ...flashStore(y, s),
  ];
  const vars = [q, k, v, ...(mask ? [mask] : []), y];
  return buildKernel({
    name: 'attention',
    hint: `${ctx.elem};scale=${scale};${qBlock}x${kvBlock};mask=${mask?.dtype ?? 'none'}`,
    vars,
    workgroup: [wg],
    workgroups: b * h * qBlocks,
    prelude,
    body,
    flops: 2 * b * h * nq * s.nk * (d + s.dv),
    bytes: vars.reduce((a, t) => a + t.numel * bytesOf(t.storage), 0),
  });
}
