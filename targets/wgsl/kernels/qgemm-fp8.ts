import type { Node } from '../../../ir/node.ts';
import { actFormatOf } from '../../../ir/quant.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel } from '../render.ts';
import { epilogue, epilogueHelpers, qgemmCost, qgemmHint, qgemmProblem, qgemmVars, type QgemmProblem } from './qgemm-common.ts';

/**
 * qgemm{aformat=e4m3} (W4A8-FP8): e4m3 activation bytes × int4 weights. WGSL has no FP8 type, so storage and
 * traffic are 8-bit (x packed 4 codes per u32 like i8, w 8 nibbles per u32) while the arithmetic is f32: each code
 * is decoded to its f32 value (exact: every e4m3 value is an f16 and an f32), each nibble to an f32 integer, and the
 * products (exact: 4 × 4 significant bits) are summed in f32. The sum is rounded in this kernel's order (k
 * ascending, four at a time through `dot`), so it differs from the reference's exactly rounded sum by at most
 * K · 2^−24 · Σ|x·w| (the op allows this: ir/ops.ts). The FP8 tensor-core path is CUDA's (targets/cuda).
 *
 * Schedule of qgemm-f32.ts's direct kernel (no workgroup memory, no barriers): lanes walk rows of x (ROWS rows, WG
 * apart), the workgroup shares COLS weight rows; each i4 word (8 k) meets two x words per row.
 */
export const QGEMM_FP8_TILE = { wg: 64, rows: 2, cols: 4 } as const;

/** Four e4m3 codes of one word (byte b = element b) as f32 values; the NaN codes never occur (quantize saturates). */
const E4M3X4 = `fn e4m3x4(w: u32) -> vec4<f32> {
  let em = vec4<u32>(w & 0x7Fu, (w >> 8u) & 0x7Fu, (w >> 16u) & 0x7Fu, (w >> 24u) & 0x7Fu);
  let sign = vec4<u32>(w << 24u, w << 16u, w << 8u, w) & vec4<u32>(0x80000000u);
  let sub = bitcast<vec4<u32>>(vec4<f32>(em) * 0.001953125);
  return bitcast<vec4<f32>>(sign | select((em + vec4<u32>(960u)) << vec4<u32>(20u), sub, em < vec4<u32>(8u)));
}`;

/** Nibbles s..s+3 of an i4 word (sign-extended) as f32. */
const I4X4 = `fn i4x4(v: u32, s: u32) -> vec4<f32> {
  let x = bitcast<i32>(v);
  return vec4<f32>(vec4<i32>(extractBits(x, s, 4u), extractBits(x, s + 4u, 4u), extractBits(x, s + 8u, 4u),
    extractBits(x, s + 12u, 4u)));
}`;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function kLoop(p: QgemmProblem): string[] {
  const { rows, cols } = QGEMM_FP8_TILE;
  const full = Math.floor(p.kw / 2);
  const step = (g: (half: number) => string, halves: readonly number[], wIndex: string): string[] => [
    ...range(cols).map((j) => `let v${j} = ${p.w.name}[wr${j} + ${wIndex}];`),
    ...halves.flatMap((h) => [
      ...range(rows).map((i) => `let a${i}_${h} = e4m3x4(${p.x.name}[xr${i} + ${g(h)}]);`),
      ...range(cols).map((j) => `let b${j}_${h} = i4x4(v${j}, ${16 * h}u);`),
      ...range(rows).flatMap((i) => range(cols).map((j) => `acc${i}_${j} += dot(a${i}_${h}, b${j}_${h});`)),
    ]),
  ];
  const lines = [
    `for (var h = 0u; h < ${full}u; h++) {`,
    ...step((h) => `2u * h + ${h}u`, [0, 1], 'h').map((l) => `  ${l}`),
    '}',
  ];
  // odd word count: the last i4 word's high half is padding, and x has no word for it
  if (p.kw % 2) lines.push('{', ...step(() => `${2 * full}u`, [0], `${full}u`).map((l) => `  ${l}`), '}');
  return lines;
}

function body(p: QgemmProblem): string[] {
  const { wg, rows, cols } = QGEMM_FP8_TILE;
  const tilesN = Math.ceil(p.n / cols);
  return [
    `let n0 = (wg % ${tilesN}u) * ${cols}u;`,
    `let m0 = (wg / ${tilesN}u) * ${wg * rows}u + lidx;`,
    // clamped addresses keep every lane loading in bounds; the stores skip the clamped outputs
    ...range(rows).map((i) => `let xr${i} = min(m0 + ${i * wg}u, ${p.m - 1}u) * ${p.kw}u;`),
    ...range(cols).map((j) => `let wr${j} = min(n0 + ${j}u, ${p.n - 1}u) * ${p.ww}u;`),
    ...range(rows).flatMap((i) => range(cols).map((j) => `var acc${i}_${j} = 0.0;`)),
    ...kLoop(p),
    ...range(rows).flatMap((i) => [
      `if (m0 + ${i * wg}u < ${p.m}u) {`,
      ...range(cols).map((j) => `  if (n0 + ${j}u < ${p.n}u) { ${epilogue(p, `acc${i}_${j}`, `m0 + ${i * wg}u`, `n0 + ${j}u`)} }`),
      '}',
    ]),
  ];
}

/** The e4m3 × int4 qgemm; the integer variants refuse e4m3 activations and this one integer ones. */
export function lowerQgemmFp8(n: Node, ctx: LowerContext): KernelSpec {
  if (actFormatOf(n.attrs, 'aformat') !== 'e4m3') throw new Error('wgsl: the fp8 qgemm kernel needs aformat = e4m3');
  const p = qgemmProblem(n, ctx);
  if (p.wDtype !== 'i4') throw new Error(`wgsl: qgemm with e4m3 activations needs i4 weights, got ${p.wDtype}`);
  if (p.m === 0 || p.n === 0) throw new Error('wgsl: qgemm with an empty M or N has nothing to compute');
  const { wg, rows, cols } = QGEMM_FP8_TILE;
  return buildKernel({
    name: 'qgemm_fp8',
    hint: qgemmHint(p, ctx, `e4m3;${wg}x${rows}x${cols}`),
    vars: qgemmVars(p),
    workgroup: [wg],
    workgroups: Math.ceil(p.m / (wg * rows)) * Math.ceil(p.n / cols),
    prelude: [E4M3X4, I4X4, ...epilogueHelpers(p)],
    body: body(p),
    ...qgemmCost(p),
  });
}
