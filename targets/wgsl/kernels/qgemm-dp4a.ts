import type { Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel } from '../render.ts';
import {
  dotCall, dotPrelude, epilogue, epilogueHelpers, qgemmCost, qgemmHint, qgemmProblem, qgemmVars, weightWord, WIDEN_I4,
  withDirectives,
  type QDot, type QgemmProblem,
} from './qgemm-common.ts';

/**
 * Register-tiled W4A8/W8A8 GEMM for GPUs (ONNX Runtime DP4A MatMulNBits shape): a WG×WG workgroup computes a
 * TILE×TILE block of the output, each invocation a (TILE/WG)² register block of i32 accumulators whose rows and
 * columns are WG apart. K advances TILE_KW words (4 k each) at a time through workgroup memory, stored k-word-major
 * so the register loads are conflict-free. i4 weights are widened to i8 words while the tile is staged, so the
 * inner loop is dot4I8Packed only. Out-of-range rows and words stage as 0, which also covers K % 4 != 0.
 */
export interface QgemmTile {
  readonly tile: number;
  readonly tileKw: number;
  readonly wg: number;
}

export const QGEMM_TILE: QgemmTile = { tile: 64, tileKw: 8, wg: 16 };

function stageA(t: QgemmTile, p: QgemmProblem): string[] {
  const threads = t.wg * t.wg;
  return [
    `for (var i = 0u; i < ${(t.tile * t.tileKw) / threads}u; i++) {`,
    `  let e = lidx + i * ${threads}u;`,
    `  let r = e / ${t.tileKw}u; let c = e % ${t.tileKw}u;`,
    '  var v = 0u;',
    `  if (m0 + r < ${p.m}u && kw0 + c < ${p.kw}u) { v = ${p.x.name}[(m0 + r) * ${p.kw}u + kw0 + c]; }`,
    `  a_tile[c * ${t.tile}u + r] = v;`,
    '}',
  ];
}

function stageB(t: QgemmTile, p: QgemmProblem): string[] {
  const threads = t.wg * t.wg;
  if (p.wDtype === 'i8') {
    return [
      `for (var i = 0u; i < ${(t.tile * t.tileKw) / threads}u; i++) {`,
      `  let e = lidx + i * ${threads}u;`,
      `  let r = e / ${t.tileKw}u; let c = e % ${t.tileKw}u;`,
      '  var v = 0u;',
      `  if (n0 + r < ${p.n}u && kw0 + c < ${p.kw}u) { v = ${weightWord(p, 'n0 + r', 'kw0 + c')}; }`,
      `  b_tile[c * ${t.tile}u + r] = v;`,
      '}',
    ];
  }
  // one i4 word holds two k-groups: read it once, write both widened halves (padding nibbles are 0)
  const per = t.tileKw / 2;
  return [
    `for (var i = 0u; i < ${Math.max(1, (t.tile * per) / threads)}u; i++) {`,
    `  let e = lidx + i * ${threads}u;`,
    `  let r = e / ${per}u; let c = e % ${per}u;`,
    '  var v = 0u;',
    `  if (e < ${t.tile * per}u && n0 + r < ${p.n}u && kw0 / 2u + c < ${p.ww}u) {`,
    `    v = ${p.w.name}[(n0 + r) * ${p.ww}u + kw0 / 2u + c];`,
    '  }',
    `  if (e < ${t.tile * per}u) {`,
    `    b_tile[(2u * c) * ${t.tile}u + r] = widen_i4(v);`,
    `    b_tile[(2u * c + 1u) * ${t.tile}u + r] = widen_i4(v >> 16u);`,
    '  }',
    '}',
  ];
}

function tiledBody(t: QgemmTile, p: QgemmProblem, dot: QDot): string[] {
  const r = t.tile / t.wg;
  const tilesN = Math.ceil(p.n / t.tile);
  return [
    `let m0 = (wg / ${tilesN}u) * ${t.tile}u; let n0 = (wg % ${tilesN}u) * ${t.tile}u;`,
    `var acc: array<array<i32, ${r}>, ${r}>;`,
    `for (var kw0 = 0u; kw0 < ${p.kw}u; kw0 += ${t.tileKw}u) {`,
    ...stageA(t, p).map((l) => `  ${l}`),
    ...stageB(t, p).map((l) => `  ${l}`),
    '  workgroupBarrier();',
    `  for (var kk = 0u; kk < ${t.tileKw}u; kk++) {`,
    `    var ra: array<u32, ${r}>; var rb: array<u32, ${r}>;`,
    `    for (var i = 0u; i < ${r}u; i++) { ra[i] = a_tile[kk * ${t.tile}u + lid.y + i * ${t.wg}u]; }`,
    `    for (var j = 0u; j < ${r}u; j++) { rb[j] = b_tile[kk * ${t.tile}u + lid.x + j * ${t.wg}u]; }`,
    `    for (var i = 0u; i < ${r}u; i++) {`,
    `      for (var j = 0u; j < ${r}u; j++) { acc[i][j] += ${dotCall(dot, 'ra[i]', 'rb[j]')}; }`,
    '    }',
    '  }',
    '  workgroupBarrier();',
    '}',
    `for (var i = 0u; i < ${r}u; i++) {`,
    `  let gm = m0 + lid.y + i * ${t.wg}u;`,
    `  for (var j = 0u; j < ${r}u; j++) {`,
    `    let gn = n0 + lid.x + j * ${t.wg}u;`,
    `    if (gm < ${p.m}u && gn < ${p.n}u) { ${epilogue(p, 'acc[i][j]', 'gm', 'gn')} }`,
    '  }',
    '}',
  ];
}

/** qgemm through workgroup tiles; `dot` = 'soft' gives the same schedule without DP4A (tests, A/B timing). */
export function lowerQgemmTiled(n: Node, ctx: LowerContext, dot: QDot = 'dp4a', t: QgemmTile = QGEMM_TILE): KernelSpec {
  const threads = t.wg * t.wg;
  if (t.tile % t.wg || (t.tile * t.tileKw) % threads || t.tileKw % 2) {
    throw new Error(`wgsl: qgemm tile ${JSON.stringify(t)} does not divide over its workgroup`);
  }
  const p = qgemmProblem(n, ctx);
  const pre = dotPrelude(dot);
  const spec = buildKernel({
    name: dot === 'dp4a' ? 'qgemm_dp4a' : 'qgemm_tiled_soft',
    hint: qgemmHint(p, ctx, `${t.tile}x${t.tile}x${t.tileKw}w`),
    vars: qgemmVars(p),
    workgroup: [t.wg, t.wg],
    workgroups: Math.ceil(p.m / t.tile) * Math.ceil(p.n / t.tile),
    prelude: [
      `var<workgroup> a_tile: array<u32, ${t.tile * t.tileKw}>;`,
      `var<workgroup> b_tile: array<u32, ${t.tile * t.tileKw}>;`,
      ...(p.wDtype === 'i4' ? [WIDEN_I4] : []),
      ...epilogueHelpers(p),
      ...pre.helpers,
    ],
    body: tiledBody(t, p, dot),
    ...qgemmCost(p),
  });
  return { ...spec, source: withDirectives(spec.source, pre.directives) };
}
