import { keyTiles } from '../../../ir/infer-sparse-attention.ts';
import {
  forcedTiles, rangeTiles, selectedTiles, tileSelectAttrs, tileSelectKeys, tileSelectQueryTile,
  type TileSelectAttrs,
} from '../../../ir/infer-tile-select.ts';
import type { Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import type { KernelSpec } from '../kernel.ts';
import { buildKernel, literal, scheduleRowExpr } from '../render.ts';
import { tensorVar, type TensorVar } from '../tensor-var.ts';
import { bytesOf } from './elementwise.ts';

/** Invocations per workgroup, and per key tile while scoring (they split its keys, then sum in a fixed order). */
const WG = 128;
const LANES = 8;

// q̄ of the workgroup's query tile into workgroup memory, one column per invocation
function poolQuery(q: TensorVar): string[] {
  return [
    'for (var c = lidx; c < D; c += WG) {',
    '  var acc = 0.0;',
    `  for (var r = 0u; r < qn; r++) { acc += ${q.load('(bh * NQ + q0 + r) * D + c')}; }`,
    '  qbar[c] = acc / f32(qn);',
    '}',
    'workgroupBarrier();',
  ];
}

// a lane's share of tile j's score into acc: Σ over its keys r of q̄·k_r, or (pooled) over its columns of q̄·k̄_j
function lanePartial(k: TensorVar, pooled: boolean): string[] {
  return pooled ? [
    '    let base = (bh * KT + j) * D;',
    `    for (var d = lane; d < D; d += LANES) { acc = fma(qbar[d], ${k.load('base + d')}, acc); }`,
  ] : [
    '    let kn = min(TILE, NK - j * TILE);',
    '    for (var r = lane; r < kn; r += LANES) {',
    '      let base = (bh * NK + j * TILE + r) * D;',
    '      var dot = 0.0;',
    `      for (var d = 0u; d < D; d++) { dot = fma(qbar[d], ${k.load('base + d')}, dot); }`,
    '      acc += dot;',
    '    }',
  ];
}

// s_j = scale · (Σ_r q̄·k_r) / |tile j|, or (pooled form) scale · q̄·k̄_j: LANES invocations per tile, GROUPS tiles
// per pass, their partial sums added in a fixed order; the loop is uniform
function scoreTiles(k: TensorVar, scale: number, pooled: boolean): string[] {
  const sum = pooled ? 'sum' : '(sum / f32(min(TILE, NK - j * TILE)))';
  return [
    'let lane = lidx % LANES; let slot = lidx / LANES;',
    'for (var j0 = 0u; j0 < KT; j0 += GROUPS) {',
    '  let j = j0 + slot;',
    '  var acc = 0.0;',
    '  if (j < KT) {',
    ...lanePartial(k, pooled),
    '  }',
    '  part[lidx] = acc;',
    '  workgroupBarrier();',
    '  if (lane == 0u && j < KT) {',
    '    var sum = 0.0;',
    '    for (var l = 0u; l < LANES; l++) { sum += part[lidx + l]; }',
    `    let sc = ${literal(scale, 'f32')} * ${sum};`,
    // a NaN score ranks lowest (the reference's rule), so the rank count still keeps exactly KEEP tiles; tested by
    // bits, as WGSL lets a compiler assume x == x
    '    score[j] = select(sc, bitcast<f32>(0xff7fffffu), (bitcast<u32>(sc) & 0x7fffffffu) > 0x7f800000u);',
    '  }',
    '  workgroupBarrier();',
    '}',
  ];
}

// tile j is kept when forced or when fewer than `keep` − FORCED free tiles beat it (higher score, or equal and
// lower); its slot in the ascending list is the number of kept tiles before it
function selectTiles(y: TensorVar, keep: string): string[] {
  return [
    'for (var j = lidx; j < KT; j += WG) {',
    '  var kept = j < FORCED;',
    '  if (!kept) {',
    '    let sj = score[j];',
    '    var rank = 0u;',
    '    for (var i = FORCED; i < KT; i++) {',
    '      let si = score[i];',
    '      if (si > sj || (si == sj && i < j)) { rank++; }',
    '    }',
    `    kept = rank < ${keep} - FORCED;`,
    '  }',
    '  flag[j] = select(0u, 1u, kept);',
    '}',
    'workgroupBarrier();',
    'for (var j = lidx; j < KT; j += WG) {',
    '  if (flag[j] == 1u) {',
    '    var pos = 0u;',
    '    for (var i = 0u; i < j; i++) { pos += flag[i]; }',
    `    ${y.store('(bh * QT + qt) * KEEP + pos', 'i32(j)')}`,
    '  }',
    '}',
  ];
}

/**
 * The scheduled form's budget: the workgroup's batch (bh / H) reads its range r (bounds above its timestep, each
 * rounded up to f32 so the comparison is exact) and keeps that range's count; uniform per workgroup, as one
 * workgroup is one (b, h, query tile).
 */
function rangeKeep(t: TensorVar, a: TileSelectAttrs, counts: readonly number[], heads: number): string[] {
  const bounds = a.schedule!.bounds;
  const row = scheduleRowExpr('tb', bounds);
  const keep = counts.slice(1).reduce((e, c, r) => `select(${e}, ${c}u, srow == ${r + 1}u)`, `${counts[0]}u`);
  return [`let tb = ${t.load(`bh / ${heads}u`)};`, `let srow = ${row};`, `let keep = ${keep};`];
}

// a range keeping fewer than KEEP tiles pads its row with −1 (sparse_attention skips it)
function padRow(y: TensorVar): string[] {
  return [`for (var p = keep + lidx; p < KEEP; p += WG) { ${y.store('(bh * QT + qt) * KEEP + p', '-1i')} }`];
}

// a range that keeps nothing (keeps[r] = 0) writes a row of −1 only, forced tiles included, and skips the scoring;
// keep is uniform per workgroup, so the return leaves the later barriers in uniform control flow
function emptyRange(y: TensorVar): string[] {
  return ['if (keep == 0u) {', ...padRow(y).map((l) => `  ${l}`), '  return;', '}'];
}

/**
 * tile_select{tile, keep, keepFirst, scale}(q[B,H,Nq,D], k[B,H,Nk,D]) → i32[B, H, QT, T']: one workgroup per
 * (batch, head, query tile of qtile rows, default tile). It pools its queries into q̄ (workgroup memory), scores
 * every key tile by the mean of q̄·k over its keys (= q̄·k̄_j) in f32, then keeps the forced tiles and the best others
 * by a rank count (O(KT²/WG), fine for KT ≤ a few hundred) and writes them ascending. Every workgroup reads all of
 * K (L2-resident), QT× the bytes of K per head; the pooled form (attribute keys, operand k̄ pooled once per head by
 * reshape + reduce_mean upstream) reads one row per tile instead. The scheduled form (t: f[B]) keeps its range's
 * count of tiles and pads the rest of its row with −1; a range of count 0 writes −1 only and scores nothing.
 */
export function lowerTileSelect(n: Node, ctx: LowerContext): KernelSpec {
  const [qt, kt] = [n.src[0]!.type, n.src[1]!.type];
  const [B, H, Nq, D] = qt.shape as [number, number, number, number];
  const a = tileSelectAttrs(n.attrs);
  const Nk = tileSelectKeys(kt, a);
  const qtile = tileSelectQueryTile(a);
  const [QT, KT, KEEP] = [keyTiles(Nq, qtile), keyTiles(Nk, a.tile), selectedTiles(Nk, a)];
  const counts = rangeTiles(Nk, a);
  // a query tile other than the key tile gets its own constant; equal ones emit the source as before
  const qrows = qtile === a.tile ? 'TILE' : 'QTILE';
  const shared = 4 * (D + WG + 2 * KT);
  const budget = ctx.caps.limits.maxComputeWorkgroupStorageSize;
  if (shared > budget) {
    throw new Error(`wgsl: tile_select over ${KT} key tiles (head dim ${D}) needs ${shared} B of workgroup memory, ` +
      `over ${budget} B: use a larger tile`);
  }
  const q = tensorVar('x0', qt.dtype, qt.shape, ctx.elem);
  const k = tensorVar('x1', kt.dtype, kt.shape, ctx.elem);
  const tv = n.src[2] && tensorVar('x2', n.src[2].type.dtype, n.src[2].type.shape, ctx.elem);
  const y = tensorVar('y', n.type.dtype, n.type.shape, ctx.elem);
  const prelude = [
    `const D: u32 = ${D}u;`, `const NQ: u32 = ${Nq}u;`, `const NK: u32 = ${Nk}u;`, `const TILE: u32 = ${a.tile}u;`,
    ...(qtile === a.tile ? [] : [`const QTILE: u32 = ${qtile}u;`]),
    `const QT: u32 = ${QT}u;`, `const KT: u32 = ${KT}u;`, `const KEEP: u32 = ${KEEP}u;`,
    `const FORCED: u32 = ${forcedTiles(Nk, a.tile, a.keepFirst)}u;`,
    `const WG: u32 = ${WG}u;`, `const LANES: u32 = ${LANES}u;`, `const GROUPS: u32 = ${WG / LANES}u;`,
    'var<workgroup> qbar: array<f32, D>;',
    'var<workgroup> part: array<f32, WG>;',
    'var<workgroup> score: array<f32, KT>;',
    'var<workgroup> flag: array<u32, KT>;',
  ];
  const body = [
    'let qt = wg % QT; let bh = wg / QT;',
    `let q0 = qt * ${qrows}; let qn = min(${qrows}, NQ - q0);`,
    ...(tv ? rangeKeep(tv, a, counts, H) : []),
    ...(counts.includes(0) ? emptyRange(y) : []),
    ...poolQuery(q),
    ...scoreTiles(k, a.scale, a.keys !== undefined),
    ...selectTiles(y, tv ? 'keep' : 'KEEP'),
    ...(tv ? padRow(y) : []),
  ];
  const sched = (tv ? `;counts=${counts.join('/')};bounds=${a.schedule!.bounds.join('/')}` : '') +
    (a.keys === undefined ? '' : `;keys=${Nk}`) + (qtile === a.tile ? '' : `;qtile=${qtile}`);
  // per workgroup: its q̄ rows, then all of k (Nk rows) or of k̄ (KT rows)
  const kRows = a.keys === undefined ? Nk : KT;
  return buildKernel({
    name: 'tile_select',
    hint: `${ctx.elem};tile=${a.tile};keep=${KEEP};first=${a.keepFirst};scale=${a.scale}${sched}`,
    vars: [q, k, ...(tv ? [tv] : []), y],
    workgroup: [WG],
    workgroups: B * H * QT,
    prelude,
    body,
    flops: 2 * B * H * (QT * kRows * D + Nq * D),
    bytes: q.numel * bytesOf(q.storage) + B * H * QT * kRows * D * bytesOf(k.storage) + y.numel * 4,
  });
}
