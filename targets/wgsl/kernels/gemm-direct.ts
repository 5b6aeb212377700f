import type { Node } from '../../../ir/node.ts';
import { numel, type Shape } from '../../../ir/types.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel } from '../render.ts';
import { broadcastStrides, tensorVar, type TensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';

/**
 * Barrier-free GEMM for CPU adapters (llvmpipe, SwiftShader). Those drivers run a workgroup's invocations as SIMD
 * lanes, split the shader at every barrier, and gain nothing from workgroup memory (the cache does the reuse).
 * So each invocation owns a register block of outputs and reads both operands straight from storage, and the
 * work is laid out so one operand's address depends only on the workgroup: NIR's divergence analysis then turns
 * those loads into one scalar load broadcast to all lanes, and only the other operand is gathered.
 *
 *   linear: lanes walk rows of x (ROWS rows each, WG apart); the workgroup shares COLS rows of w. K is the
 *           contiguous axis of both, so the inner loop is a dot product, read as vec4 when K % 4 == 0.
 *   matmul: lanes walk columns of b (vec4 of columns when N % 4 == 0); the workgroup shares ROWS rows of a.
 */
export interface DirectTile {
  /** invocations per workgroup */
  readonly wg: number;
  /** rows of the output per invocation (linear) or per workgroup (matmul) */
  readonly rows: number;
  /** output columns per workgroup (linear) or per invocation, in vectors (matmul) */
  readonly cols: number;
}

// measured on llvmpipe (2 cores, AVX2, 8-wide) for the tiny model's [1024,256]×[N,256|1024] shapes: a storage load
// costs a per-lane loop there while FMAs run 8 wide, so the biggest register block that does not spill wins
export const DIRECT_LINEAR_TILE: DirectTile = { wg: 64, rows: 8, cols: 8 };
export const DIRECT_MATMUL_TILE: DirectTile = { wg: 64, rows: 4, cols: 1 };

/** The tensor read `width` elements at a time: bound as `array<vecN<storage>>`, loaded as f32 values. */
export interface VecView {
  readonly v: TensorVar;
  readonly width: 1 | 4;
  /** element type of a loaded value */
  readonly type: string;
  load(vecOffset: string): string;
}

export function vecView(v: TensorVar, width: 1 | 4): VecView {
  if (width === 1) return { v, width, type: 'f32', load: (o) => v.load(o) };
  const vec = `vec4<${v.storage}>`;
  const bound: TensorVar = {
    ...v,
    declare: (binding, access) => `@group(0) @binding(${binding}) var<storage, ${access}> ${v.name}: array<${vec}>;`,
  };
  const load = (o: string): string => (v.storage === 'f32' ? `${v.name}[${o}]` : `vec4<f32>(${v.name}[${o}])`);
  return { v: bound, width, type: 'vec4<f32>', load };
}

/** `a·b` of two loaded values, added into `acc` (WGSL's dot takes no scalars). */
export function dotInto(acc: string, a: string, b: string, width: 1 | 4): string {
  return width === 4 ? `${acc} += dot(${a}, ${b});` : `${acc} = fma(${a}, ${b}, ${acc});`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The workgroup halved (not below 8, one SIMD width) while it has more invocations than `need`. */
export function shrinkWorkgroup(wg: number, need: number): number {
  let w = wg;
  while (w > 8 && w / 2 >= need) w /= 2;
  return w;
}

interface LinearProblem {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly x: VecView;
  readonly w: VecView;
  readonly bias?: TensorVar;
  readonly y: TensorVar;
}

function linearBody(t: DirectTile, p: LinearProblem): string[] {
  const kv = p.k / p.x.width;
  const tilesN = Math.ceil(p.n / t.cols);
  const rows = range(t.rows);
  const cols = range(t.cols);
  const acc = (i: number, j: number): string => `acc${i}_${j}`;
  return [
    `let n0 = (wg % ${tilesN}u) * ${t.cols}u;`,
    `let m0 = (wg / ${tilesN}u) * ${t.wg * t.rows}u + lidx;`,
    // clamped addresses keep every lane loading in bounds; the stores below skip the clamped outputs
    ...rows.map((i) => `let xr${i} = min(m0 + ${i * t.wg}u, ${p.m - 1}u) * ${kv}u;`),
    ...cols.map((j) => `let wr${j} = min(n0 + ${j}u, ${p.n - 1}u) * ${kv}u;`),
    ...rows.flatMap((i) => cols.map((j) => `var ${acc(i, j)} = 0.0;`)),
    `for (var k = 0u; k < ${kv}u; k++) {`,
    ...rows.map((i) => `  let a${i} = ${p.x.load(`xr${i} + k`)};`),
    ...cols.map((j) => `  let b${j} = ${p.w.load(`wr${j} + k`)};`),
    ...rows.flatMap((i) => cols.map((j) => `  ${dotInto(acc(i, j), `a${i}`, `b${j}`, p.x.width)}`)),
    '}',
    ...rows.flatMap((i) => [
      `if (m0 + ${i * t.wg}u < ${p.m}u) {`,
      `  let yr = (m0 + ${i * t.wg}u) * ${p.n}u;`,
      ...cols.map((j) => {
        const v = p.bias ? `${acc(i, j)} + ${p.bias.load(`n0 + ${j}u`)}` : acc(i, j);
        return `  if (n0 + ${j}u < ${p.n}u) { ${p.y.store(`yr + n0 + ${j}u`, v)} }`;
      }),
      '}',
    ]),
  ];
}

/** linear(x[..., K], w[N, K], bias?[N]) without workgroup memory; same bindings as the tiled kernel. */
export function lowerLinearDirect(n: Node, ctx: LowerContext, t: DirectTile = DIRECT_LINEAR_TILE): KernelSpec {
  const [xt, wt, bt] = [n.src[0]!.type, n.src[1]!.type, n.src[2]?.type];
  const k = xt.shape[xt.shape.length - 1]!;
  const [nn] = wt.shape as [number, number];
  const m = numel(xt.shape) / k;
  const width = k % 4 === 0 ? 4 : 1;
  const x = vecView(tensorVar('x0', xt.dtype, xt.shape, ctx.elem), width);
  const w = vecView(tensorVar('x1', wt.dtype, wt.shape, ctx.elem), width);
  const bias = bt ? tensorVar('x2', bt.dtype, bt.shape, ctx.elem) : undefined;
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const vars = [x.v, w.v, ...(bias ? [bias] : []), y];
  t = { ...t, wg: shrinkWorkgroup(t.wg, Math.ceil(m / t.rows)) };
  return buildKernel({
    name: 'linear_direct',
    hint: `${ctx.elem};v${width};${t.wg}x${t.rows}x${t.cols}`,
    vars,
    workgroup: [t.wg],
    workgroups: Math.ceil(m / (t.wg * t.rows)) * Math.ceil(nn / t.cols),
    body: linearBody(t, { m, n: nn, k, x, w, y, ...(bias ? { bias } : {}) }),
    flops: 2 * m * nn * k,
    bytes: vars.reduce((s, v) => s + v.numel * bytesOf(v.storage), 0),
  });
}

interface MatmulProblem {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: TensorVar;
  readonly b: VecView;
  readonly y: TensorVar;
  /** element offsets of batch `bz` in a and b */
  readonly aBatch: string;
  readonly bBatch: string;
}

function matmulStores(t: DirectTile, p: MatmulProblem, acc: (i: number, j: number) => string): string[] {
  const lanes = range(p.b.width);
  const comp = (c: number): string => (p.b.width === 4 ? `.${'xyzw'[c]}` : '');
  return range(t.rows).flatMap((i) => [
    `if (m0 + ${i}u < ${p.m}u) {`,
    `  let yr = y_base + (m0 + ${i}u) * ${p.n}u;`,
    ...range(t.cols).flatMap((j) => lanes.map((c) => {
      const col = `(nv + ${j * t.wg}u) * ${p.b.width}u + ${c}u`;
      return `  if (${col} < ${p.n}u) { ${p.y.store(`yr + ${col}`, `${acc(i, j)}${comp(c)}`)} }`;
    })),
    '}',
  ]);
}

function matmulBody(t: DirectTile, p: MatmulProblem): string[] {
  const nv = Math.ceil(p.n / p.b.width);
  const tilesN = Math.ceil(nv / (t.wg * t.cols));
  const tilesM = Math.ceil(p.m / t.rows);
  const rows = range(t.rows);
  const cols = range(t.cols);
  const acc = (i: number, j: number): string => `acc${i}_${j}`;
  const zero = p.b.width === 4 ? 'vec4<f32>(0.0)' : '0.0';
  return [
    `let nv = (wg % ${tilesN}u) * ${t.wg * t.cols}u + lidx;`,
    `let m0 = ((wg / ${tilesN}u) % ${tilesM}u) * ${t.rows}u;`,
    `let bz = wg / ${tilesN * tilesM}u;`,
    `let a_base = ${p.aBatch}; let b_base = (${p.bBatch}) / ${p.b.width}u; let y_base = bz * ${p.m * p.n}u;`,
    ...rows.map((i) => `let ar${i} = a_base + min(m0 + ${i}u, ${p.m - 1}u) * ${p.k}u;`),
    ...cols.map((j) => `let bc${j} = b_base + min(nv + ${j * t.wg}u, ${nv - 1}u);`),
    ...rows.flatMap((i) => cols.map((j) => `var ${acc(i, j)} = ${zero};`)),
    `for (var k = 0u; k < ${p.k}u; k++) {`,
    ...rows.map((i) => `  let a${i} = ${p.a.load(`ar${i} + k`)};`),
    ...cols.map((j) => `  let b${j} = ${p.b.load(`bc${j} + k * ${nv}u`)};`),
    ...rows.flatMap((i) => cols.map((j) => `  ${acc(i, j)} = fma(${p.b.type}(a${i}), b${j}, ${acc(i, j)});`)),
    '}',
    ...matmulStores(t, p, acc),
  ];
}

/** Element offset of batch `bz` of an operand whose batch dims broadcast to `outBatch`. */
function batchOffset(v: TensorVar, outBatch: Shape, matrix: number): string {
  const own = v.shape.slice(0, -2);
  return v.viewOffset('batch', outBatch, broadcastStrides(own, outBatch).map((s) => s * matrix), 'bz');
}

/** matmul(a[..., M, K], b[..., K, N]) with broadcast batch dims, without workgroup memory. */
export function lowerMatmulDirect(n: Node, ctx: LowerContext, t: DirectTile = DIRECT_MATMUL_TILE): KernelSpec {
  const [at, bt] = [n.src[0]!.type, n.src[1]!.type];
  const [m, k] = at.shape.slice(-2) as [number, number];
  const nn = bt.shape[bt.shape.length - 1]!;
  const outBatch = n.type.shape.slice(0, -2);
  const width = nn % 4 === 0 ? 4 : 1;
  const a = tensorVar('x0', at.dtype, at.shape, ctx.elem);
  const bs = tensorVar('x1', bt.dtype, bt.shape, ctx.elem);
  const b = vecView(bs, width);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const batch = numel(outBatch);
  const nv = Math.ceil(nn / width);
  const vars = [a, b.v, y];
  t = { ...t, wg: shrinkWorkgroup(t.wg, Math.ceil(nv / t.cols)) };
  return buildKernel({
    name: 'matmul_direct',
    hint: `${ctx.elem};v${width};${t.wg}x${t.rows}x${t.cols}`,
    vars,
    workgroup: [t.wg],
    workgroups: Math.ceil(nv / (t.wg * t.cols)) * Math.ceil(m / t.rows) * batch,
    body: matmulBody(t, {
      m, n: nn, k, a, b, y,
      aBatch: batchOffset(a, outBatch, m * k),
      bBatch: batchOffset(bs, outBatch, k * nn),
    }),
    flops: 2 * m * nn * k * batch,
    bytes: vars.reduce((s, v) => s + v.numel * bytesOf(v.storage), 0),
  });
}
