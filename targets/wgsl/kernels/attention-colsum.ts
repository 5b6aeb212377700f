import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { attrHint, buildKernel, literal } from '../render.ts';
import { tensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';

/**
 * attention_colsum{scale}(q[B,H,Nq,D], k[B,H,Nk,D]) → f32[B,Nk]: the attention each key receives, summed over
 * heads and queries, without ever holding a score matrix. One workgroup per (batch, tile of KEY_TILE keys); each
 * invocation owns the tile's keys lidx, lidx + WG, … and keeps their sums in registers, so no two invocations
 * ever write one element (no atomics, no partial-sum buffer). Query rows of one batch (all heads) go WG at a time:
 *   pass 1  invocation r runs an online softmax max/sum over all Nk keys for row r alone (no reduction needed)
 *           and leaves (m, 1/l) in workgroup memory;
 *   pass 2  each invocation adds exp(s − m_r) / l_r over the block's rows for the keys it owns (scores
 *           recomputed, never stored).
 * Two barriers per WG rows rather than two workgroup reductions per row (lavapipe splits shaders at barriers).
 * Pass 1 is repeated by each of the ⌈Nk / KEY_TILE⌉ tiles: the price of needing no second dispatch.
 */
const WG = 64;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** keys owned per workgroup: KEY_TILE / WG registers per invocation */
export const COLSUM_KEY_TILE = 256;

export function lowerAttentionColsum(n: Node, ctx: LowerContext): KernelSpec {
  const [B, H, Nq, D] = n.src[0]!.type.shape as [number, number, number, number];
  const Nk = n.src[1]!.type.shape[2]!;
  const q = tensorVar('x0', n.src[0]!.type.dtype, n.src[0]!.type.shape, ctx.elem);
  const k = tensorVar('x1', n.src[1]!.type.dtype, n.src[1]!.type.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const tile = Math.min(COLSUM_KEY_TILE, Math.ceil(Nk / WG) * WG);
  const own = tile / WG;
  const tiles = Math.ceil(Nk / tile);
  const rows = H * Nq;
  const dot = (qb: string, j: string): string =>
    `var acc_s = 0.0; for (var e = 0u; e < ${D}u; e++) { acc_s += ${q.load(`${qb} + e`)} * ${k.load(`kb + ${j} * ${D}u + e`)}; }`;
  const body = [
    `let b = wg / ${tiles}u;`,
    `let j0 = (wg % ${tiles}u) * ${tile}u;`,
    ...range(own).map((r) => `var sum${r} = 0.0;`),
    `for (var r0 = 0u; r0 < ${rows}u; r0 += ${WG}u) {`,
    '  let mine = r0 + lidx;',
    `  if (mine < ${rows}u) {`,
    `    let kb = (b * ${H}u + mine / ${Nq}u) * ${Nk * D}u;`,
    `    let qb = (b * ${rows}u + mine) * ${D}u;`,
    `    var m = ${literal(-Infinity, 'f32')};`,
    '    var l = 0.0;',
    `    for (var j = 0u; j < ${Nk}u; j++) {`,
    `      ${dot('qb', 'j')}`,
    '      let s = acc_s * SCALE;',
    '      let mx = max(m, s);',
    '      l = l * exp(m - mx) + exp(s - mx);',
    '      m = mx;',
    '    }',
    '    row_m[lidx] = m;',
    '    row_inv[lidx] = 1.0 / l;',
    '  }',
    '  workgroupBarrier();',
    `  let n_rows = min(${WG}u, ${rows}u - r0);`,
    '  for (var rr = 0u; rr < n_rows; rr++) {',
    '    let row = r0 + rr;',
    `    let kb = (b * ${H}u + row / ${Nq}u) * ${Nk * D}u;`,
    `    let qb = (b * ${rows}u + row) * ${D}u;`,
    '    let m_r = row_m[rr];',
    '    let inv_r = row_inv[rr];',
    ...range(own).flatMap((r) => [
      `    let key${r} = j0 + lidx + ${r * WG}u;`,
      `    if (key${r} < ${Nk}u) {`,
      `      ${dot('qb', `key${r}`)}`,
      `      sum${r} += exp(acc_s * SCALE - m_r) * inv_r;`,
      '    }',
    ]),
    '  }',
    // the next block overwrites row_m / row_inv: every read of these must be done
    '  workgroupBarrier();',
    '}',
    ...range(own).flatMap((r) => [
      `let o${r} = j0 + lidx + ${r * WG}u;`,
      `if (o${r} < ${Nk}u) { ${y.store(`b * ${Nk}u + o${r}`, `sum${r}`)} }`,
    ]),
  ];
  const scores = B * H * Nq * Nk;
  return buildKernel({
    name: 'attention_colsum',
    hint: `${ctx.elem};${attrHint(n.attrs)};tile=${tile}`,
    vars: [q, k, y],
    workgroup: [WG],
    workgroups: B * tiles,
    prelude: [
      `const SCALE: f32 = ${literal(attr<number>(n, 'scale'), 'f32')};`,
      `var<workgroup> row_m: array<f32, ${WG}>;`,
      `var<workgroup> row_inv: array<f32, ${WG}>;`,
    ],
    body,
    flops: scores * (2 * D + 4) * (tiles + 1),
    bytes: (q.numel * tiles + k.numel * (tiles + 1)) * bytesOf(q.storage) + y.numel * bytesOf(y.storage),
  });
}
