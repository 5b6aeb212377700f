import type { Node } from '../../../ir/node.ts';
import type { DeviceCaps, LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel } from '../render.ts';
import {
  epilogue, epilogueHelpers, qgemmCost, qgemmHint, qgemmProblem, qgemmVars, weightWord, WIDEN_I4, withDirectives,
  type QgemmProblem,
} from './qgemm-common.ts';

/**
 * qgemm on i8→i32 subgroup matrices (INT8 tensor cores on an H100 through VK_KHR_cooperative_matrix), Dawn's
 * `chromium_experimental_subgroup_matrix`. A workgroup is exactly one subgroup (selected only where the subgroup
 * size is fixed), so every matrix op sits in workgroup-uniform control flow and needs no subgroup_id. It computes
 * a TILE×TILE output block as (TILE/16)² accumulators; per 32-deep K step it stages the x tile (already i8) and the
 * w tile (i4 widened to i8) in workgroup memory, zero-padded at the edges, because a cooperative load that would
 * cross the end of its array is dropped whole. Results go through a 16×TILE i32 scratch for the scale epilogue.
 *
 * Dawn's i8 matrices load from `array<i32>` with offset and stride counted in i8 elements (bytes); both are
 * multiples of 4 here. x rows are the left operand (row-major, stride 32 bytes); w rows are the right operand's
 * columns (K×N column-major, stride 32).
 */
export const SGMAT_SHAPE = { M: 16, N: 16, K: 32 } as const;
const TILE = 64;
/** k-words (4 i8 each) per K step */
const STEP_W = SGMAT_SHAPE.K / 4;

/** The i8→i32 16×16×32 configuration with a fixed subgroup size, or why this device cannot run the kernel. */
export function sgmatSupport(caps: DeviceCaps): { ok: true; lanes: number } | { ok: false; why: string } {
  if (!caps.features.has('chromium-experimental-subgroup-matrix')) return { ok: false, why: 'no subgroup-matrix feature' };
  const { M, N, K } = SGMAT_SHAPE;
  const hit = caps.subgroupMatrixConfigs.some((c) => c.componentType === 'i8' && c.resultComponentType === 'i32'
    && c.M === M && c.N === N && c.K === K);
  if (!hit) return { ok: false, why: `no i8→i32 ${M}×${N}×${K} subgroup-matrix config` };
  const lanes = caps.subgroupMaxSize;
  if (!lanes || caps.subgroupMinSize !== lanes || lanes > caps.limits.maxComputeInvocationsPerWorkgroup) {
    return { ok: false, why: `subgroup size is not fixed (${caps.subgroupMinSize}..${lanes})` };
  }
  return { ok: true, lanes };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const BLOCKS = range(TILE / 16);

function stage(p: QgemmProblem, lanes: number): string[] {
  const words = TILE * STEP_W;
  return [
    `for (var e = lidx; e < ${words}u; e += ${lanes}u) {`,
    `  let r = e / ${STEP_W}u; let c = e % ${STEP_W}u; let g = kw0 + c;`,
    '  var a = 0u; var b = 0u;',
    `  if (m0 + r < ${p.m}u && g < ${p.kw}u) { a = ${p.x.name}[(m0 + r) * ${p.kw}u + g]; }`,
    `  if (n0 + r < ${p.n}u && g < ${p.kw}u) { b = ${weightWord(p, 'n0 + r', 'g')}; }`,
    '  a_sh[e] = bitcast<i32>(a);',
    '  b_sh[e] = bitcast<i32>(b);',
    '}',
  ];
}

function mma(): string[] {
  const L = `subgroup_matrix_left<i8, ${SGMAT_SHAPE.K}, ${SGMAT_SHAPE.M}>`;
  const R = `subgroup_matrix_right<i8, ${SGMAT_SHAPE.N}, ${SGMAT_SHAPE.K}>`;
  const rowBytes = SGMAT_SHAPE.K;
  return [
    ...BLOCKS.map((i) => `let a${i} = subgroupMatrixLoad<${L}>(&a_sh, ${i * 16 * rowBytes}u, false, ${rowBytes}u);`),
    ...BLOCKS.map((j) => `let b${j} = subgroupMatrixLoad<${R}>(&b_sh, ${j * 16 * rowBytes}u, true, ${rowBytes}u);`),
    ...BLOCKS.flatMap((i) => BLOCKS.map((j) => `acc${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, acc${i}_${j});`)),
  ];
}

function writeBack(p: QgemmProblem, lanes: number): string[] {
  return BLOCKS.flatMap((i) => [
    ...BLOCKS.map((j) => `subgroupMatrixStore(&c_sh, ${j * 16}u, acc${i}_${j}, false, ${TILE}u);`),
    'workgroupBarrier();',
    `for (var e = lidx; e < ${16 * TILE}u; e += ${lanes}u) {`,
    `  let gm = m0 + ${i * 16}u + e / ${TILE}u; let gn = n0 + e % ${TILE}u;`,
    `  if (gm < ${p.m}u && gn < ${p.n}u) { ${epilogue(p, 'c_sh[e]', 'gm', 'gn')} }`,
    '}',
    'workgroupBarrier();',
  ]);
}

function sgmatBody(p: QgemmProblem, lanes: number): string[] {
  const tilesN = Math.ceil(p.n / TILE);
  const acc = `subgroup_matrix_result<i32, ${SGMAT_SHAPE.N}, ${SGMAT_SHAPE.M}>`;
  return [
    `let m0 = (wg / ${tilesN}u) * ${TILE}u; let n0 = (wg % ${tilesN}u) * ${TILE}u;`,
    ...BLOCKS.flatMap((i) => BLOCKS.map((j) => `var acc${i}_${j} = ${acc}();`)),
    `for (var kw0 = 0u; kw0 < ${p.kw}u; kw0 += ${STEP_W}u) {`,
    ...stage(p, lanes).map((l) => `  ${l}`),
    '  workgroupBarrier();',
    ...mma().map((l) => `  ${l}`),
    '  workgroupBarrier();',
    '}',
    ...writeBack(p, lanes),
  ];
}

/** qgemm on subgroup matrices; throws (naming the reason) on a device without the i8 16×16×32 config. */
export function lowerQgemmSgmat(n: Node, ctx: LowerContext): KernelSpec {
  const s = sgmatSupport(ctx.caps);
  if (!s.ok) throw new Error(`wgsl: qgemm subgroup-matrix kernel unavailable: ${s.why}`);
  const p = qgemmProblem(n, ctx);
  const spec = buildKernel({
    name: 'qgemm_sgmat',
    hint: qgemmHint(p, ctx, `${TILE}x${TILE}x${SGMAT_SHAPE.K};sg${s.lanes}`),
    vars: qgemmVars(p),
    workgroup: [s.lanes],
    workgroups: Math.ceil(p.m / TILE) * Math.ceil(p.n / TILE),
    prelude: [
      `var<workgroup> a_sh: array<i32, ${TILE * STEP_W}>;`,
      `var<workgroup> b_sh: array<i32, ${TILE * STEP_W}>;`,
      `var<workgroup> c_sh: array<i32, ${16 * TILE}>;`,
      ...(p.wDtype === 'i4' ? [WIDEN_I4] : []),
      ...epilogueHelpers(p),
    ],
    body: sgmatBody(p, s.lanes),
    ...qgemmCost(p),
  });
  return {
    ...spec,
    source: withDirectives(spec.source, ['enable chromium_experimental_subgroup_matrix;']),
    features: [...spec.features, 'chromium-experimental-subgroup-matrix' as GPUFeatureName],
  };
}
