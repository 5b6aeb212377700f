import { users, type Graph } from '../../ir/graph.ts';
import { numel } from '../../ir/types.ts';
import type { OnlineTransform } from './method-transform.ts';

/*
 * What a method left at inference time, for the compile report and eval results: smoothing multiplies folded into
 * the quantize prologue (free) or left as their own kernel, and online rotations with their FLOPs. FLOPs are a
 * count, not a cost: the time of the rotation matmuls has to be measured on the GPU (`vdit bench`).
 */

export interface MethodReport {
  readonly method: string;
  /** wall time of the calibration forwards and statistics (0 when none ran) */
  readonly calibrationMs: number;
  readonly calibrationInputs: number;
  /** smoothing vectors read only by a token_scale/quantize prologue (no extra kernel) */
  readonly smoothingFolded: number;
  /** smoothing vectors read by some other node: an explicit elementwise multiply */
  readonly smoothingExplicit: number;
  readonly onlineRotations: number;
  /** FLOPs of the online transforms per forward (2·rows·K² per dense rotation, 2·rows·K·(d1 + d2) per Kronecker one) */
  readonly rotationFlops: number;
  /** FLOPs of the integer GEMMs per forward (2·rows·N·K each), the scale the rotation cost compares with */
  readonly qgemmFlops: number;
  readonly notes: readonly string[];
}

export function methodReport(
  method: string, lowered: Graph, transforms: readonly OnlineTransform[], calibrationMs: number, inputs: number,
): MethodReport {
  const readers = users(lowered);
  const params = new Map([...readers.keys()].filter((n) => n.op === 'param').map((n) => [n.attrs['name'], n]));
  let [folded, explicit, rotations, flops] = [0, 0, 0, 0];
  for (const t of transforms) {
    const p = params.get(t.param);
    if (!p) continue;
    if (t.kind === 'rotate' || t.kind === 'kron') {
      [rotations, flops] = [rotations + 1, flops + t.flops];
    } else if ((readers.get(p) ?? []).every((u) => u.op === 'token_scale' || u.op === 'quantize')) {
      folded++;
    } else {
      explicit++;
    }
  }
  const gemm = qgemmFlops(lowered);
  const notes: string[] = [];
  if (rotations) {
    const share = gemm ? ` = ${((100 * flops) / gemm).toFixed(1)}% of the qgemm FLOPs` : '';
    const form = transforms.some((t) => t.kind === 'kron') ? 'Kronecker-factored (two small matmuls each)' : 'dense';
    notes.push(`${rotations} online transforms (${(flops / 1e9).toFixed(3)} GFLOP per forward${share}) stay ` +
      `in the graph as ${form} f32 matmuls; their time must be measured on the GPU`);
  }
  if (explicit) notes.push(`${explicit} smoothing multiplies could not join a quantize prologue and run as kernels`);
  return {
    method, calibrationMs, calibrationInputs: inputs, smoothingFolded: folded, smoothingExplicit: explicit,
    onlineRotations: rotations, rotationFlops: flops, qgemmFlops: gemm, notes,
  };
}

function qgemmFlops(g: Graph): number {
  let f = 0;
  for (const n of users(g).keys()) {
    if (n.op !== 'qgemm') continue;
    const [x, w] = [n.src[0]!, n.src[2]!];
    const k = x.type.shape[x.type.shape.length - 1]!;
    f += 2 * (numel(x.type.shape) / k) * w.type.shape[0]! * k;
  }
  return f;
}
