import { graph, toposort, type Graph } from '../../ir/graph.ts';
import { node, type Node } from '../../ir/node.ts';
import { numel, tensorType } from '../../ir/types.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { seededInputs } from '../inputs.ts';
import type { Weights } from '../weights/weights.ts';
import { gptqQuantize } from './gptq.ts';
import { collectLinearStats, linearsByInput, type LinearStats } from './linear-stats.ts';
import type { LayerQuantizer } from './quantized-weights.ts';
import { hadamardBlock, hadamardMatrix, hadamardRows } from './rotation.ts';
import { scaleColumns, smoothScales } from './smoothquant.ts';
import { planLinears, type QuantConfig } from './spec.ts';

/*
 * The quantization methods of `--method`, as a rewrite of the FP model that stays exact in FP, plus the weight
 * quantizer that runs after it:
 *
 *   rtn          nothing; RTN per output channel
 *   gptq         nothing; GPTQ with the calibration Hessian XᵀX
 *   smoothquant  W ← W·diag(s);   x ← mul(x, param <w>.smooth = 1/s)        (rides in the quantize prologue expr)
 *   quarot       W ← W·H;         x ← matmul(x, param <w>.rotate = H)       (an online matmul per transformed input)
 *   viditq       W ← W·diag(s)·H; x ← matmul(x, param <w>.rotate = diag(1/s)·H): balancing folded into the rotation
 *
 * <w> is the first weight reading that input (q, k and v share one transform). The transform params are FP; the
 * quantized build then inserts Q/DQ on the transformed input and quantizes the transformed W.
 */

export const QUANT_METHODS = ['rtn', 'smoothquant', 'quarot', 'viditq', 'gptq'] as const;
export type QuantMethod = (typeof QUANT_METHODS)[number];

export function isQuantMethod(m: string): m is QuantMethod {
  return (QUANT_METHODS as readonly string[]).includes(m);
}

/** Methods that read calibration statistics (quarot's Hadamard and rtn need none). */
export function needsCalibration(m: QuantMethod): boolean {
  return m === 'smoothquant' || m === 'viditq' || m === 'gptq';
}

/** One online activation transform left in the graph, with its cost per forward. */
export interface OnlineTransform {
  readonly param: string;
  readonly kind: 'smooth' | 'rotate' | 'kron';
  /** channels K, and rows (tokens × batch) per forward */
  readonly k: number;
  readonly rows: number;
  /** FLOPs per forward: rows·K for a smoothing multiply, 2·rows·K² for a rotation, rows·K·(1 + 2(d1 + d2)) for kron */
  readonly flops: number;
  readonly layers: readonly string[];
}

export interface MethodModel {
  readonly graph: Graph;
  readonly weights: Weights;
  readonly quantizer?: LayerQuantizer;
  readonly transforms: readonly OnlineTransform[];
  /** a rewrite of the graph after insert-qdq, before fusion (S²Q's learned activation clips on token_scale) */
  readonly rewriteQdq?: (g: Graph) => Graph;
}

export interface CalibrationOptions {
  /** FP forwards (default 2) */
  readonly count?: number;
  readonly seed?: number;
  /** collect XᵀX too (GPTQ; default true) */
  readonly hessian?: boolean;
}

/** Seeded calibration inputs (random clips, timesteps and classes), then the stats of every quantized linear. */
export function calibrate(
  g: Graph, weights: Weights, config: QuantConfig, opts: CalibrationOptions = {},
): { stats: Map<string, LinearStats>; ms: number } {
  const t0 = performance.now();
  const layers = planLinears(g, config).quantized.map((p) => p.weight.attrs['name'] as string);
  const seed = opts.seed ?? 1234;
  const inputs = Array.from({ length: opts.count ?? 2 }, (_, i) => seededInputs(g, seed + i));
  const stats = collectLinearStats(g, weights, inputs, layers, { hessian: opts.hessian ?? true });
  return { stats, ms: performance.now() - t0 };
}

/** The FP model rewritten for `method` (exact in FP) and the weight quantizer to use on it. */
export function applyMethod(
  g: Graph, weights: Weights, config: QuantConfig, method: QuantMethod, stats?: ReadonlyMap<string, LinearStats>,
): MethodModel {
  if (needsCalibration(method) && !stats) throw new Error(`applyMethod: method '${method}' needs calibration stats`);
  if (method === 'rtn') return { graph: g, weights, transforms: [] };
  if (method === 'gptq') return { graph: g, weights, transforms: [], quantizer: gptqQuantizer(stats!) };
  const names = new Set(planLinears(g, config).quantized.map((p) => p.weight.attrs['name'] as string));
  const wraps = new Map<Node, (x: Node) => Node>();
  const extra = new Map<string, () => Tensor>();
  const transforms: OnlineTransform[] = [];
  const seen = new Set<string>();
  for (const [x, lins] of linearsByInput(g, names)) {
    for (const l of lins) {
      const w = l.src[1]!.attrs['name'] as string;
      // one W cannot absorb two different input transforms
      if (seen.has(w)) throw new Error(`applyMethod(${method}): weight '${w}' is read by linears of different inputs`);
    }
    lins.forEach((l) => seen.add(l.src[1]!.attrs['name'] as string));
    const t = transformGroup(x, lins, weights, method, stats);
    if (!t) continue;
    for (const [name, make] of t.tensors) extra.set(name, make);
    for (const l of lins) wraps.set(l, t.wrap);
    transforms.push(t.report);
  }
  return { graph: rewriteInputs(g, wraps), weights: lazyWeights(weights, extra), transforms };
}

/**
 * g with the input x of every linear in `wraps` replaced by wrap(x'), x' the rebuilt x. Not ir/graph.ts substitute:
 * the transformed input must be built over the already rewritten producers, or the graph would keep a copy of the
 * old subgraph (with its weights, which this method changes) next to the new one.
 */
export function rewriteInputs(g: Graph, wraps: ReadonlyMap<Node, (x: Node) => Node>): Graph {
  const memo = new Map<Node, Node>();
  for (const n of toposort(g)) {
    const src = n.src.map((s) => memo.get(s) ?? s);
    const wrap = wraps.get(n);
    if (wrap) src[0] = wrap(src[0]!);
    const same = src.every((s, i) => s === n.src[i]);
    memo.set(n, same ? n : node(n.op, src, n.attrs, n.src.length ? undefined : n.type));
  }
  const map = (n: Node): Node => memo.get(n) ?? n;
  return graph(g.name, g.inputs.map(map), g.outputs.map(map));
}

function gptqQuantizer(stats: ReadonlyMap<string, LinearStats>): LayerQuantizer {
  return (l, w) => {
    const s = stats.get(l.weight);
    if (!s) throw new Error(`gptq: no calibration stats for '${l.weight}'`);
    if (s.xtx.length === 0) throw new Error(`gptq: the stats of '${l.weight}' were collected without XᵀX`);
    return gptqQuantize(w, s.xtx, l.wBits, {}, l.weight);
  };
}

interface GroupTransform {
  /** the transformed input over a (rebuilt) x; hash-consing makes the linears of one group share it */
  readonly wrap: (x: Node) => Node;
  readonly tensors: ReadonlyMap<string, () => Tensor>;
  readonly report: OnlineTransform;
}

/** The transformed input of the linears `lins` (all reading x) and the tensors it needs; undefined: identity. */
function transformGroup(
  x: Node, lins: readonly Node[], weights: Weights, method: QuantMethod, stats?: ReadonlyMap<string, LinearStats>,
): GroupTransform | undefined {
  const k = x.type.shape[x.type.shape.length - 1]!;
  const rows = numel(x.type.shape) / k;
  const wNames = lins.map((l) => l.src[1]!.attrs['name'] as string);
  const first = wNames[0]!;
  const smooth = method !== 'quarot';
  const rotate = method !== 'smoothquant' && hadamardBlock(k) > 1;
  if (!smooth && !rotate) return undefined;
  const fp = (name: string): Tensor => {
    const w = weights.get(name);
    if (!w) throw new Error(`applyMethod: no FP weight '${name}'`);
    return w;
  };
  const s = once(() => {
    const st = stats?.get(first);
    if (!st) throw new Error(`applyMethod: no calibration stats for '${first}'`);
    return smoothScales(st.absMax, wNames.map(fp));
  });
  const h = once(() => hadamardMatrix(k));
  const tensors = new Map<string, () => Tensor>();
  for (const name of new Set(wNames)) {
    tensors.set(name, once(() => {
      const ws = smooth ? scaleColumns(fp(name), s()) : fp(name);
      return rotate ? hadamardRows(ws) : ws;
    }));
  }
  const param = `${first}.${rotate ? 'rotate' : 'smooth'}`;
  if (rotate) {
    tensors.set(param, once(() => tensor(tensorType('f32', [k, k]), smooth ? scaleRows(h(), s(), k) : h())));
  } else {
    tensors.set(param, once(() => tensor(tensorType('f32', [k]), s().map((v) => 1 / v))));
  }
  const p = node('param', [], { name: param }, tensorType('f32', rotate ? [k, k] : [k]));
  const wrap = (xi: Node): Node => (rotate ? node('matmul', [xi, p]) : node('mul', [xi, p]));
  const report: OnlineTransform = {
    param, kind: rotate ? 'rotate' : 'smooth', k, rows, flops: rotate ? 2 * rows * k * k : rows * k, layers: wNames,
  };
  return { wrap, tensors, report };
}

/** diag(1/s)·H: row j of h divided by s_j. */
function scaleRows(h: Float32Array, s: Float32Array, k: number): Float32Array {
  return h.map((v, i) => v / s[Math.floor(i / k)]!);
}

/** make(), computed on first call and kept. */
export function once<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}

export function lazyWeights(base: Weights, extra: ReadonlyMap<string, () => Tensor>): Weights {
  return {
    get: (name) => extra.get(name)?.() ?? base.get(name),
    names: () => new Set([...base.names(), ...extra.keys()]),
  };
}
