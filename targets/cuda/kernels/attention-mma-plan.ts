import { keyTiles, queryTile, scheduleBounds } from '../../../ir/infer-sparse-attention.ts';
import { attr, type Node } from '../../../ir/node.ts';
import { cudaScheduleRow } from '../render.ts';

/**
 * Query rows per warp (the MMA's M), the default warps per block for short and long query runs, the largest K/V
 * chunk in keys, the largest head dims (Q fragments, the score tile and the output accumulators all live in
 * registers: D/4 + 32 + Dv/2 per thread) and the static shared memory a block may declare.
 */
export const MMA_ATTENTION = { rows: 16, warps: 4, wideWarps: 8, keys: 64, maxHead: 128, smem: 48 * 1024 } as const;

/** The row pitch of a staged chunk in halves: +8 (16 bytes) puts the 8 rows of an ldmatrix phase in 8 bank quads. */
export const PAD = 8;

/** A tensor-core variant: the warps per block (undefined: the plan's default) and double-buffered staging. */
export interface MmaVariant {
  readonly warps?: 4 | 8;
  readonly pipe: boolean;
}

/** Shapes and the key-chunk walk of one lowering: dense (every chunk of Nk) or the kept tiles of a sparse list. */
export interface Plan {
  readonly B: number; readonly H: number; readonly Nq: number; readonly Nk: number;
  readonly D: number; readonly Dv: number;
  /** keys per staged chunk, a multiple of 16 */
  readonly KC: number;
  readonly warps: number;
  /** two K/V buffers: chunk c + 1 is loaded into registers while chunk c computes */
  readonly pipe: boolean;
  /** bytes of shared memory: the K and V staging buffers (both buffers when pipelined), a sparse block's list */
  readonly smem: number;
  readonly blocks: number;
  /** sets bh, q0 (first query row of the block) and qend (rows at or past it are not stored) */
  readonly head: readonly string[];
  /** after head, every thread: a sparse block's list staged in shared memory (listLines) */
  readonly prologue: readonly string[];
  /** the chunk count, a CUDA expression (uniform across the block) */
  readonly chunks: string;
  /** sets kbase and kend for chunk c: keys kbase.. < kend are live; the chunk is skipped when kbase ≥ kend */
  readonly chunk: readonly string[];
  /**
   * a sparse list that may hold every key tile (T = the key tile count): the dense walk of the same chunks, taken
   * when the block's list is exactly 0, 1, …, T − 1 (prologue's `inorder`), as a refresh's all-tile list is
   */
  readonly whole?: Pick<Plan, 'chunks' | 'chunk'>;
}

const ceil16 = (x: number): number => Math.ceil(x / 16) * 16;

/** Shared bytes of KC-key K and V chunks (f16, padded rows), once or twice. */
const stagingBytes = (KC: number, D: number, Dv: number, pipe: boolean): number =>
  (pipe ? 2 : 1) * KC * (D + PAD + Dv + PAD) * 2;

/** The largest chunk (64, 48, 32 or 16 keys) whose staging fits the shared memory budget beside `other` bytes. */
function maxKeys(D: number, Dv: number, pipe: boolean, other = 0): number {
  return [64, 48, 32, 16].find((c) => c <= MMA_ATTENTION.keys && stagingBytes(c, D, Dv, pipe) + other <= MMA_ATTENTION.smem)
    ?? 16;
}

/** The plan of `n` under `v`: dense, or one of the sparse list forms. */
export function mmaPlan(n: Node, v: MmaVariant): Plan {
  return n.op === 'sparse_attention' ? sparsePlan(n, v) : densePlan(n, v);
}

/** 8 warps (128 rows a block: half the K/V re-reads) once Nq fills them, else 4. */
function defaultWarps(Nq: number): number {
  const { rows, warps, wideWarps } = MMA_ATTENTION;
  return Nq >= rows * wideWarps ? wideWarps : warps;
}

function densePlan(n: Node, v: MmaVariant, warps = v.warps ?? defaultWarps(n.src[0]!.type.shape[2]!)): Plan {
  const [B, H, Nq, D] = n.src[0]!.type.shape as [number, number, number, number];
  const [Nk, Dv] = [n.src[1]!.type.shape[2]!, n.src[2]!.type.shape[3]!];
  const { rows } = MMA_ATTENTION;
  const KC = Math.min(maxKeys(D, Dv, v.pipe), ceil16(Nk));
  const QB = Math.ceil(Nq / (rows * warps));
  return {
    B, H, Nq, Nk, D, Dv, KC, warps, pipe: v.pipe, smem: stagingBytes(KC, D, Dv, v.pipe), blocks: B * H * QB,
    head: [`const unsigned bh = blk / ${QB}u, q0 = (blk % ${QB}u) * ${rows * warps}u, qend = ${Nq}u;`],
    prologue: [],
    chunks: `${Math.ceil(Nk / KC)}u`,
    chunk: [`const unsigned kbase = c * ${KC}u, kend = ${Nk}u;`],
  };
}

/**
 * Chunks divide the tile where a multiple of 16 up to the largest fitting chunk does, else one chunk of
 * ceil16(tile) keys covers it with its tail masked. Per query tile (qtile rows) a block never spans two query tiles'
 * rows (they read other lists): its warps are capped by ceil(qtile / 16). They default to 4 when qtile = tile (short
 * tiles leave little to share, and such graphs lower as before qtile existed), else to the query count's default:
 * qtile 128 over Nq ≥ 128 takes 8 warps, 128 queries sharing each staged chunk (1.7× faster than 4 on an H100).
 */
function sparsePlan(n: Node, v: MmaVariant): Plan {
  const { rows } = MMA_ATTENTION;
  const tile = attr<number>(n, 'tile');
  const list = n.src[3]!.type.shape;
  const perQueryTile = list.length === 4;
  const Nq = n.src[0]!.type.shape[2]!;
  const qtile = perQueryTile ? queryTile(n.attrs, 'sparse_attention') : tile;
  const wide = qtile === tile ? MMA_ATTENTION.warps : defaultWarps(Nq);
  const warps = perQueryTile ? Math.min(v.warps ?? wide, Math.ceil(qtile / rows)) : v.warps ?? defaultWarps(Nq);
  const d = densePlan(n, v, warps);
  const kept = list.at(-1)!;
  const nt = keyTiles(d.Nk, tile);
  // a list as long as the key tiles may name them all: the dense walk for such a block (Plan.whole)
  const whole = kept === nt;
  // the staged list and the ballot words: counts, and with `whole` the out-of-order flags
  const listBytes = 4 * (kept + (whole ? 2 : 1) * warps);
  const most = maxKeys(d.D, d.Dv, v.pipe, listBytes);
  const KC = [64, 48, 32, 16].find((c) => c <= most && tile % c === 0) ?? Math.min(most, ceil16(tile));
  const per = Math.ceil(tile / KC);
  const QT = keyTiles(d.Nq, qtile);
  const SUB = Math.ceil(qtile / (rows * warps));
  const QB = perQueryTile ? QT * SUB : Math.ceil(d.Nq / (rows * warps));
  const head = perQueryTile
    ? [`const unsigned bh = blk / ${QB}u, qt = (blk % ${QB}u) / ${SUB}u;`,
      `const unsigned q0 = qt * ${qtile}u + (blk % ${SUB}u) * ${rows * warps}u;`,
      `const unsigned qend = qt * ${qtile}u + ${qtile}u < ${d.Nq}u ? qt * ${qtile}u + ${qtile}u : ${d.Nq}u;`,
      `const unsigned srow = bh * ${QT}u + qt;`]
    : [...d.head, ...scheduleRow(n, d.H)];
  return {
    ...d, KC, smem: stagingBytes(KC, d.D, d.Dv, v.pipe) + listBytes, blocks: d.B * d.H * QB, head,
    prologue: listLines(`tiles[srow * ${kept}u + i]`, kept, nt, warps, whole), chunks: `live * ${per}u`,
    ...(whole ? { whole: { chunks: `${Math.ceil(d.Nk / KC)}u`, chunk: [`const unsigned kbase = c * ${KC}u, kend = ${d.Nk}u;`] } }
      : {}),
    chunk: [
      `const unsigned kt = lst[c / ${per}u];`,
      `const unsigned kbase = kt * ${tile}u + (c % ${per}u) * ${KC}u;`,
      `const unsigned kend = kt * ${tile}u + ${tile}u < ${d.Nk}u ? kt * ${tile}u + ${tile}u : ${d.Nk}u;`,
    ],
  };
}

/**
 * The block's list row staged once into shared `lst`, compacted: its live entries (0 ≤ tile < nt; −1 padding and
 * out-of-range entries are skipped, attention-sparse.ts's semantics) in order, `live` of them. Each round of
 * blockDim entries takes one ballot per warp and the earlier warps' counts. The chunk walk then reads shared memory
 * instead of a global load it depends on, and a list of −1 only walks no chunk (0.36 ms of empty chunks before on
 * cogvideox-2b shapes, bench/results/prune.md). With `whole` (kept = nt) also `inorder`: every entry i is tile i,
 * the dense walk's condition, from a second ballot per round; shorter lists never take that walk and skip it.
 */
function listLines(entry: string, kept: number, nt: number, warps: number, whole: boolean): string[] {
  const threads = 32 * warps;
  const order = (lines: readonly string[]): readonly string[] => (whole ? lines : []);
  return [
    `__shared__ int lst[${kept}];`,
    `__shared__ unsigned wcount[${warps}];`,
    ...order([`__shared__ unsigned wbad[${warps}];`, 'bool inorder = true;']),
    'unsigned live = 0u;',
    `for (unsigned i0 = 0u; i0 < ${kept}u; i0 += ${threads}u) {`,
    '  const unsigned i = i0 + threadIdx.x;',
    `  const int tr = i < ${kept}u ? ${entry} : -1;`,
    `  const bool ok = tr >= 0 && tr < ${nt};`,
    '  const unsigned mask = __ballot_sync(0xffffffffu, ok);',
    '  if (lane == 0u) wcount[threadIdx.x >> 5] = __popc(mask);',
    ...order([`  const unsigned bad = __ballot_sync(0xffffffffu, i < ${kept}u && tr != (int)i);`,
      '  if (lane == 0u) wbad[threadIdx.x >> 5] = bad;']),
    '  __syncthreads();',
    '  unsigned at = live;',
    '  for (unsigned w = 0u; w < (threadIdx.x >> 5); ++w) at += wcount[w];',
    '  if (ok) lst[at + __popc(mask & ((1u << lane) - 1u))] = tr;',
    `  for (unsigned w = 0u; w < ${warps}u; ++w) live += wcount[w];`,
    ...order([`  for (unsigned w = 0u; w < ${warps}u; ++w) inorder = inorder && wbad[w] == 0u;`]),
    '  __syncthreads();',
    '}',
  ];
}

/** The list row of the 1-D form (0) or of the scheduled form (the batch's timestep against the bounds). */
function scheduleRow(n: Node, H: number): string[] {
  if (n.src.length !== 5) return ['const unsigned srow = 0u;'];
  const bounds = scheduleBounds(n.attrs, n.src[3]!.type.shape[0]!);
  return [`const float tb = t[bh / ${H}u];`,
    `const unsigned srow = ${cudaScheduleRow('tb', bounds)};`];
}
