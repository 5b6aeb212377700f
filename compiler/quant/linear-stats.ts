import { graph, toposort, type Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { runReference } from '../../runtime/reference.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { Weights } from '../weights/weights.ts';

/*
 * Calibration statistics of the inputs of quantized linears, from FP forwards on the CPU reference: per input
 * channel max|X_j| (SmoothQuant) and XᵀX (the GPTQ Hessian up to a factor 2). Streaming: each forward's rows are
 * folded into the sums and dropped. Linears that read the same activation (q, k, v) share one LinearStats object.
 * A small stand-in for the S²Q calibration trajectories of compiler/calib/.
 */

export interface LinearStats {
  /** input features K */
  readonly k: number;
  /** max over rows of |X_ij| per channel j */
  readonly absMax: Float32Array;
  /** Σ_rows xᵀx, row-major [K, K] (symmetric); empty when collected without the Hessian */
  readonly xtx: Float64Array;
  /** rows folded in */
  rows: number;
}

export function emptyStats(k: number, hessian = true): LinearStats {
  return { k, absMax: new Float32Array(k), xtx: new Float64Array(hessian ? k * k : 0), rows: 0 };
}

/** Folds the rows of x ([..., K], row-major) into s. */
export function accumulateRows(s: LinearStats, x: ArrayLike<number>): void {
  const k = s.k;
  if (x.length % k !== 0) throw new Error(`accumulateRows: ${x.length} values are not rows of ${k}`);
  const rows = x.length / k;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > s.absMax[i % k]!) s.absMax[i % k] = a;
  }
  if (s.xtx.length === 0) {
    s.rows += rows;
    return;
  }
  // four rows per sweep over XᵀX: the K² sums are read and written a quarter as often
  const r = Array.from({ length: 4 }, () => new Float64Array(k));
  for (let r0 = 0; r0 < rows; r0 += 4) {
    for (let t = 0; t < 4; t++) {
      if (r0 + t < rows) for (let j = 0; j < k; j++) r[t]![j] = x[(r0 + t) * k + j]!;
      else r[t]!.fill(0);
    }
    addOuter4(s.xtx, k, r[0]!, r[1]!, r[2]!, r[3]!);
  }
  s.rows += rows;
}

/** Upper triangle of xtx += Σ_t r_tᵀ r_t (mirrored once at the end of collection). */
function addOuter4(
  xtx: Float64Array, k: number, a: Float64Array, b: Float64Array, c: Float64Array, d: Float64Array,
): void {
  for (let i = 0; i < k; i++) {
    const [ai, bi, ci, di] = [a[i]!, b[i]!, c[i]!, d[i]!];
    if (ai === 0 && bi === 0 && ci === 0 && di === 0) continue;
    const base = i * k;
    for (let j = i; j < k; j++) xtx[base + j]! += ai * a[j]! + bi * b[j]! + ci * c[j]! + di * d[j]!;
  }
}

function mirror(s: LinearStats): void {
  const k = s.k;
  if (s.xtx.length === 0) return;
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) s.xtx[j * k + i] = s.xtx[i * k + j]!;
}

/** The linear nodes of g whose weight is a param named in `weightNames`, grouped by their input node. */
export function linearsByInput(g: Graph, weightNames: ReadonlySet<string>): Map<Node, Node[]> {
  const groups = new Map<Node, Node[]>();
  for (const n of toposort(g)) {
    const w = n.src[1];
    if (n.op !== 'linear' || w?.op !== 'param' || !weightNames.has(w.attrs['name'] as string)) continue;
    const list = groups.get(n.src[0]!) ?? [];
    list.push(n);
    groups.set(n.src[0]!, list);
  }
  return groups;
}

/**
 * Runs g (FP) on each input set and returns the stats of the input of every linear whose weight is named in
 * `layers` (weight param names), keyed by weight name. Throws when a named weight is not a linear's param in g.
 * `hessian: false` skips XᵀX, which dominates the cost (rows·K²/2 per input; SmoothQuant needs only the maxima).
 */
export function collectLinearStats(
  g: Graph, weights: Weights, inputs: readonly Record<string, Tensor>[], layers: readonly string[],
  opts: { readonly hessian?: boolean } = {},
): Map<string, LinearStats> {
  if (inputs.length === 0) throw new Error('collectLinearStats: no calibration inputs');
  const groups = linearsByInput(g, new Set(layers));
  const xs = [...groups.keys()];
  const byInput = new Map(xs.map((x) => [x, emptyStats(x.type.shape[x.type.shape.length - 1]!, opts.hessian ?? true)]));
  const out = new Map<string, LinearStats>();
  for (const [x, lins] of groups) for (const l of lins) out.set(l.src[1]!.attrs['name'] as string, byInput.get(x)!);
  const missing = layers.filter((name) => !out.has(name));
  if (missing.length) throw new Error(`collectLinearStats: no linear reads weight ${missing.slice(0, 5).join(', ')}`);
  const probe = graph(`${g.name}.calib`, g.inputs, xs);
  for (const inp of inputs) {
    const vals = runReference(probe, inp, weights);
    xs.forEach((x, i) => accumulateRows(byInput.get(x)!, vals[i]!.data));
  }
  for (const s of byInput.values()) mirror(s);
  return out;
}
