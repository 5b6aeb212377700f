import type { Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel } from '../render.ts';
import {
  dotCall, dotPrelude, epilogue, epilogueHelpers, qgemmCost, qgemmHint, qgemmProblem, qgemmVars, WIDEN_I4,
  withDirectives,
  type QDot, type QgemmProblem,
} from './qgemm-common.ts';

/**
 * The portable qgemm: no DP4A, no workgroup memory, no barriers, so it runs on any WebGPU device and is what CPU
 * adapters (llvmpipe, SwiftShader) run fastest (see gemm-direct.ts for why). Products are formed from unpacked
 * integers and summed in i32, not f32: an f32 sum of i8·i8 products stops being exact past 2^24 (K ≈ 1040 at
 * full scale), and the op's contract is the exact i32 sum. The epilogue is the one every variant shares.
 *
 * Lanes walk rows of x (ROWS rows each, WG apart) and the workgroup shares COLS rows of w, whose addresses are
 * then workgroup-uniform. With i4 weights each loaded word feeds two k-groups (x words 2g and 2g + 1).
 */
export interface QgemmDirectTile {
  readonly wg: number;
  readonly rows: number;
  readonly cols: number;
}

export const QGEMM_DIRECT_TILE: QgemmDirectTile = { wg: 64, rows: 2, cols: 4 };

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Statements accumulating k-group `g` of every (row, col) pair; `a(i)` / `b(j)` are the operand words. */
function accumulate(t: QgemmDirectTile, dot: QDot, a: (i: number) => string, b: (j: number) => string): string[] {
  return range(t.rows).flatMap((i) => range(t.cols).map((j) => `acc${i}_${j} += ${dotCall(dot, a(i), b(j))};`));
}

function kLoop(t: QgemmDirectTile, p: QgemmProblem, dot: QDot): string[] {
  const xs = (g: string) => (i: number): string => `${p.x.name}[xr${i} + ${g}]`;
  if (p.wDtype === 'i8') {
    return [
      `for (var g = 0u; g < ${p.kw}u; g++) {`,
      ...range(t.cols).map((j) => `  let b${j} = ${p.w.name}[wr${j} + g];`),
      ...accumulate(t, dot, xs('g'), (j) => `b${j}`).map((l) => `  ${l}`),
      '}',
    ];
  }
  const full = Math.floor(p.kw / 2);
  const lines = [
    `for (var h = 0u; h < ${full}u; h++) {`,
    ...range(t.cols).flatMap((j) => [
      `  let v${j} = ${p.w.name}[wr${j} + h];`,
      `  let lo${j} = widen_i4(v${j}); let hi${j} = widen_i4(v${j} >> 16u);`,
    ]),
    ...accumulate(t, dot, xs('2u * h'), (j) => `lo${j}`).map((l) => `  ${l}`),
    ...accumulate(t, dot, xs('2u * h + 1u'), (j) => `hi${j}`).map((l) => `  ${l}`),
    '}',
  ];
  if (p.kw % 2) {
    // odd word count: the last i4 word's high half is padding, and x has no word for it
    lines.push(...range(t.cols).map((j) => `let t${j} = widen_i4(${p.w.name}[wr${j} + ${full}u]);`));
    lines.push(...accumulate(t, dot, xs(`${2 * full}u`), (j) => `t${j}`));
  }
  return lines;
}

function directBody(t: QgemmDirectTile, p: QgemmProblem, dot: QDot): string[] {
  const tilesN = Math.ceil(p.n / t.cols);
  const rows = range(t.rows);
  const cols = range(t.cols);
  return [
    `let n0 = (wg % ${tilesN}u) * ${t.cols}u;`,
    `let m0 = (wg / ${tilesN}u) * ${t.wg * t.rows}u + lidx;`,
    // clamped addresses keep every lane loading in bounds; the stores skip the clamped outputs
    ...rows.map((i) => `let xr${i} = min(m0 + ${i * t.wg}u, ${p.m - 1}u) * ${p.kw}u;`),
    ...cols.map((j) => `let wr${j} = min(n0 + ${j}u, ${p.n - 1}u) * ${p.ww}u;`),
    ...rows.flatMap((i) => cols.map((j) => `var acc${i}_${j} = 0i;`)),
    ...kLoop(t, p, dot),
    ...rows.flatMap((i) => [
      `if (m0 + ${i * t.wg}u < ${p.m}u) {`,
      ...cols.map((j) => `  if (n0 + ${j}u < ${p.n}u) { ${epilogue(p, `acc${i}_${j}`, `m0 + ${i * t.wg}u`, `n0 + ${j}u`)} }`),
      '}',
    ]),
  ];
}

/** qgemm without workgroup memory; `dot` = 'dp4a' keeps the schedule and uses the builtin where it exists. */
export function lowerQgemmDirect(
  n: Node, ctx: LowerContext, dot: QDot = 'soft', t: QgemmDirectTile = QGEMM_DIRECT_TILE,
): KernelSpec {
  const p = qgemmProblem(n, ctx);
  if (p.m === 0 || p.n === 0) throw new Error('wgsl: qgemm with an empty M or N has nothing to compute');
  const pre = dotPrelude(dot);
  const spec = buildKernel({
    name: dot === 'dp4a' ? 'qgemm_direct_dp4a' : 'qgemm_direct',
    hint: qgemmHint(p, ctx, `${t.wg}x${t.rows}x${t.cols}`),
    vars: qgemmVars(p),
    workgroup: [t.wg],
    workgroups: Math.ceil(p.m / (t.wg * t.rows)) * Math.ceil(p.n / t.cols),
    prelude: [...(p.wDtype === 'i4' ? [WIDEN_I4] : []),
      ...epilogueHelpers(p), ...pre.helpers],
    body: directBody(t, p, dot),
    ...qgemmCost(p),
  });
  return { ...spec, source: withDirectives(spec.source, pre.directives) };
}
