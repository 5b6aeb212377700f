import type { Node } from '../../../ir/node.ts';
import { numel, type Shape } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel } from '../render.ts';
import { broadcastStrides, tensorVar, type TensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';

/**
 * Register-tiled GEMM: a WG_X×WG_Y workgroup computes a TILE_M×TILE_N block of C; each invocation owns a
 * (TILE_M/WG_Y)×(TILE_N/WG_X) register tile whose rows are WG_Y apart and columns WG_X apart, so shared-memory
 * reads are conflict-free and the final stores coalesce. K advances TILE_K at a time through workgroup memory.
 */
export interface GemmTile {
  readonly tileM: number;
  readonly tileN: number;
  readonly tileK: number;
  readonly wgX: number;
  readonly wgY: number;
}

export const GEMM_TILE: GemmTile = { tileM: 64, tileN: 64, tileK: 16, wgX: 16, wgY: 16 };

/** B is `[K, N]` (matmul) or `[N, K]` (linear weight, read transposed). */
type BLayout = 'kn' | 'nk';

interface GemmProblem {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly batch: number;
  readonly a: TensorVar;
  readonly b: TensorVar;
  readonly bias?: TensorVar;
  readonly y: TensorVar;
  readonly bLayout: BLayout;
  /** batch index `bz` → element offset, per operand */
  readonly aBatch: string;
  readonly bBatch: string;
}

function tileLoads(t: GemmTile, p: GemmProblem): string[] {
  const threads = t.wgX * t.wgY;
  const perA = (t.tileM * t.tileK) / threads;
  const perB = (t.tileN * t.tileK) / threads;
  const { m, n, k } = p;
  const bKn = p.bLayout === 'kn';
  const bOffset = bKn ? `b_base + gk * ${n}u + gn` : `b_base + gn * ${k}u + gk`;
  return [
    `for (var i = 0u; i < ${perA}u; i++) {`,
    `  let e = lidx + i * ${threads}u;`,
    `  let r = e / TILE_K; let c = e % TILE_K;`,
    `  let gm = m0 + r; let gk = k0 + c;`,
    `  var v = 0.0;`,
    `  if (gm < ${m}u && gk < ${k}u) { v = ${p.a.load(`a_base + gm * ${k}u + gk`)}; }`,
    `  a_tile[c * TILE_M + r] = v;`,
    `}`,
    `for (var i = 0u; i < ${perB}u; i++) {`,
    `  let e = lidx + i * ${threads}u;`,
    // both layouts walk the operand's contiguous axis with consecutive invocations
    ...(bKn
      ? [`  let r = e / TILE_N; let c = e % TILE_N;`, `  let gk = k0 + r; let gn = n0 + c;`]
      : [`  let c = e / TILE_K; let r = e % TILE_K;`, `  let gk = k0 + r; let gn = n0 + c;`]),
    `  var v = 0.0;`,
    `  if (gk < ${k}u && gn < ${n}u) { v = ${p.b.load(bOffset)}; }`,
    `  b_tile[r * TILE_N + c] = v;`,
    `}`,
  ];
}

function gemmBody(t: GemmTile, p: GemmProblem): string[] {
  const [rm, rn] = [t.tileM / t.wgY, t.tileN / t.wgX];
  const tilesN = Math.ceil(p.n / t.tileN);
  const tilesM = Math.ceil(p.m / t.tileM);
  const bias = p.bias ? ` + ${p.bias.load('gn')}` : '';
  return [
    `let tn = wg % ${tilesN}u;`,
    `let tm = (wg / ${tilesN}u) % ${tilesM}u;`,
    `let bz = wg / ${tilesN * tilesM}u;`,
    'let m0 = tm * TILE_M; let n0 = tn * TILE_N;',
    `let a_base = ${p.aBatch}; let b_base = ${p.bBatch};`,
    `var acc: array<array<f32, ${rn}>, ${rm}>;`,
    `for (var k0 = 0u; k0 < ${p.k}u; k0 += TILE_K) {`,
    ...tileLoads(t, p).map((l) => `  ${l}`),
    '  workgroupBarrier();',
    '  for (var kk = 0u; kk < TILE_K; kk++) {',
    `    var ra: array<f32, ${rm}>; var rb: array<f32, ${rn}>;`,
    `    for (var i = 0u; i < ${rm}u; i++) { ra[i] = a_tile[kk * TILE_M + lid.y + i * ${t.wgY}u]; }`,
    `    for (var j = 0u; j < ${rn}u; j++) { rb[j] = b_tile[kk * TILE_N + lid.x + j * ${t.wgX}u]; }`,
    `    for (var i = 0u; i < ${rm}u; i++) {`,
    `      for (var j = 0u; j < ${rn}u; j++) { acc[i][j] = fma(ra[i], rb[j], acc[i][j]); }`,
    '    }',
    '  }',
    '  workgroupBarrier();',
    '}',
    `let y_base = bz * ${p.m * p.n}u;`,
    `for (var i = 0u; i < ${rm}u; i++) {`,
    `  let gm = m0 + lid.y + i * ${t.wgY}u;`,
    `  for (var j = 0u; j < ${rn}u; j++) {`,
    `    let gn = n0 + lid.x + j * ${t.wgX}u;`,
    `    if (gm < ${p.m}u && gn < ${p.n}u) { ${p.y.store(`y_base + gm * ${p.n}u + gn`, `acc[i][j]${bias}`)} }`,
    '  }',
    '}',
  ];
}

function buildGemm(name: string, ctx: LowerContext, p: GemmProblem, t: GemmTile = GEMM_TILE): KernelSpec {
  const threads = t.wgX * t.wgY;
  if ((t.tileM * t.tileK) % threads || (t.tileN * t.tileK) % threads || t.tileM % t.wgY || t.tileN % t.wgX) {
    throw new Error(`wgsl: gemm tile ${JSON.stringify(t)} does not divide over its workgroup`);
  }
  const vars = [p.a, p.b, ...(p.bias ? [p.bias] : []), p.y];
  return buildKernel({
    name,
    hint: `${ctx.elem};${p.bLayout};${t.tileM}x${t.tileN}x${t.tileK}`,
    vars,
    workgroup: [t.wgX, t.wgY],
    workgroups: Math.ceil(p.m / t.tileM) * Math.ceil(p.n / t.tileN) * p.batch,
    prelude: [
      `const TILE_M: u32 = ${t.tileM}u;`,
      `const TILE_N: u32 = ${t.tileN}u;`,
      `const TILE_K: u32 = ${t.tileK}u;`,
      // f32 tiles whatever the storage: products accumulate in f32
      'var<workgroup> a_tile: array<f32, TILE_K * TILE_M>;',
      'var<workgroup> b_tile: array<f32, TILE_K * TILE_N>;',
    ],
    body: gemmBody(t, p),
    flops: 2 * p.m * p.n * p.k * p.batch,
    bytes: vars.reduce((s, v) => s + v.numel * bytesOf(v.storage), 0),
  });
}

/** Element offset of batch `bz` of an operand whose batch dims broadcast to `outBatch`. */
function batchOffset(v: TensorVar, outBatch: Shape, matrix: number): string {
  const own = v.shape.slice(0, -2);
  return v.viewOffset('batch', outBatch, broadcastStrides(own, outBatch).map((s) => s * matrix), 'bz');
}

/** matmul(a[..., M, K], b[..., K, N]) with broadcast batch dims; the batch index comes from the folded grid. */
export function lowerMatmul(n: Node, ctx: LowerContext): KernelSpec {
  const [at, bt] = [n.src[0]!.type, n.src[1]!.type];
  const [m, k] = at.shape.slice(-2) as [number, number];
  const nn = bt.shape[bt.shape.length - 1]!;
  const outBatch = n.type.shape.slice(0, -2);
  const a = tensorVar('x0', at.dtype, at.shape, ctx.elem);
  const b = tensorVar('x1', bt.dtype, bt.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  return buildGemm('matmul', ctx, {
    m, n: nn, k, batch: numel(outBatch), a, b, y, bLayout: 'kn',
    aBatch: batchOffset(a, outBatch, m * k),
    bBatch: batchOffset(b, outBatch, k * nn),
  });
}

/** linear(x[..., K], w[N, K], bias?[N]): all leading dims of x are rows; the bias is added in the epilogue. */
export function lowerLinear(n: Node, ctx: LowerContext): KernelSpec {
  const [xt, wt, bt] = [n.src[0]!.type, n.src[1]!.type, n.src[2]?.type];
  const k = xt.shape[xt.shape.length - 1]!;
  const [nn] = wt.shape as [number, number];
  const a = tensorVar('x0', xt.dtype, xt.shape, ctx.elem);
  const b = tensorVar('x1', wt.dtype, wt.shape, ctx.elem);
  const bias = bt ? tensorVar('x2', bt.dtype, bt.shape, ctx.elem) : undefined;
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  return buildGemm('linear', ctx, {
    m: numel(xt.shape) / k, n: nn, k, batch: 1, a, b, y, bLayout: 'nk', aBatch: '0u', bBatch: '0u',
    ...(bias ? { bias } : {}),
  });
}
