import { substitute, toposort, type Graph } from '../../../ir/graph.ts';
import { node, type Node } from '../../../ir/node.ts';
import { qmax } from '../../../ir/quant.ts';
import { numel, tensorType } from '../../../ir/types.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import type { VDiTConfig } from '../../model/config.ts';
import type { Weights } from '../../weights/weights.ts';
import { gptqQuantize } from '../gptq.ts';
import { lazyWeights, once, rewriteInputs, type MethodModel, type OnlineTransform } from '../method-transform.ts';
import type { LayerQuantizer } from '../quantized-weights.ts';
import { rtnQuantize, type RtnWeight } from '../rtn.ts';
import type { QuantConfig } from '../spec.ts';
import { blockGraph, kronInput } from './block-graph.ts';
import { distillBlock, type BlockResult, type BlockSource, type DistillOptions, type DistillRecord } from './distill.ts';
import type { ExecFactory } from './exec.ts';
import { transformWeight, transpose } from './kron.ts';

/*
 * S²Q-VDiT after data selection (PAPER.md §1 steps 4–6): every transformer block in order is distilled
 * (distill.ts) on the selected calibration records, then its learned transforms are folded into the deployed
 * model, all exact in FP except the quantizers themselves:
 *
 *   x ← kron(x·s)  online: param <w>.s2q.scale [K], <w>.s2q.left = P1ᵀ, <w>.s2q.right = P2 (two small matmuls)
 *   W ← W̃ = (W/s)·(P1 ⊗ P2)⁻ᵀ, GPTQ-quantized with x̃ᵀx̃ and the learned per-channel clip as its scales
 *   token_scale of x̃ ← clip = σ(γ)                  (rewriteQdq, after insert-qdq)
 *
 * <w> is the first weight of the group. Quantized linears outside the blocks (the final layer's adaLN) keep RTN.
 */

export interface S2qOptions extends DistillOptions {
  /** records per training step (default 4: two selected samples, both CFG branches) */
  readonly batch?: number;
  readonly onBlock?: (block: number, blocks: number, r: BlockResult) => void;
}

export interface S2qResult {
  readonly blocks: readonly BlockResult[];
  readonly ms: number;
}

export interface S2qData {
  readonly records: readonly DistillRecord[];
  input(block: number, id: number): Float32Array;
  /** λ of a record's tokens in a block; absent: plain MSE */
  lambda?(block: number, id: number): Float32Array;
}

/** Distils every block of cfg in order. */
export async function s2qCalibrate(
  cfg: VDiTConfig, weights: Weights, config: QuantConfig, data: S2qData, exec: ExecFactory, opts: S2qOptions = {},
): Promise<S2qResult> {
  const t0 = performance.now();
  const batch = opts.batch ?? 4;
  const blocks: BlockResult[] = [];
  for (let b = 0; b < cfg.depth; b++) {
    const bg = blockGraph({ ...cfg, batch }, b, config);
    const src: BlockSource = {
      records: data.records,
      input: (id) => data.input(b, id),
      ...(data.lambda ? { lambda: (id: number) => data.lambda!(b, id) } : {}),
    };
    const onStep = opts.onStep;
    const r = await distillBlock(bg, weights, src, exec, {
      ...opts, ...(onStep ? { onStep: (s: number, total: number, loss: number) => onStep(b * total + s, cfg.depth * total, loss) } : {}),
    });
    blocks.push(r);
    opts.onBlock?.(b, cfg.depth, r);
  }
  return { blocks, ms: performance.now() - t0 };
}

/** Δ_W[c] = max(σ(β⁻_c)·(−min_k W_ck), σ(β⁺_c)·max_k W_ck) / qmax (a zero row keeps Δ = 1). */
export function clippedScales(w: ArrayLike<number>, n: number, k: number, hi: ArrayLike<number>, lo: ArrayLike<number>, bits: number): Float32Array {
  const out = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    let [mx, mn] = [0, 0];
    for (let j = 0; j < k; j++) {
      const v = w[c * k + j]!;
      mx = Math.max(mx, v);
      mn = Math.min(mn, v);
    }
    const m = Math.max(lo[c]! * -mn, hi[c]! * mx);
    out[c] = m > 0 ? m / qmax(bits) : 1;
  }
  return out;
}

/** The deployed model of an S²Q calibration: transformed inputs, GPTQ'd transformed weights, activation clips. */
export function s2qMethodModel(g: Graph, weights: Weights, result: S2qResult): MethodModel {
  const quantized = new Map<string, () => RtnWeight>();
  const extra = new Map<string, () => Tensor>();
  const wraps = new Map<Node, (x: Node) => Node>();
  const clips = new Map<string, number>();
  const transforms: OnlineTransform[] = [];
  const linears = new Map(toposort(g).filter((n) => n.op === 'linear' && n.src[1]?.op === 'param')
    .map((n) => [n.src[1]!.attrs['name'] as string, n]));
  for (const br of result.blocks) {
    for (const gr of br.groups) {
      const grp = gr.group;
      const kron = gr.s && gr.p1 && gr.p2 ? { k: grp.k, d1: grp.dims[0], d2: grp.dims[1], s: gr.s, p1: gr.p1, p2: gr.p2 } : undefined;
      for (const name of grp.weights) {
        const fp = weights.get(name);
        if (!fp) throw new Error(`s2q: no FP weight '${name}'`);
        const [n, k] = fp.type.shape as [number, number];
        const bits = grp.wBits.get(name)!;
        const clip = br.weightClips.get(name)!;
        // the FP model stays exact: W̃ replaces W wherever the input is transformed
        const wt = once(() => (kron ? tensor(tensorType('f32', [n, k]),
          Float32Array.from(transformWeight(kron, fp.data as Float32Array, n))) : fp));
        if (kron) extra.set(name, wt);
        quantized.set(name, once(() => {
          const scale = clippedScales(wt().data as Float32Array, n, k, clip.hi, clip.lo, bits);
          return gptqQuantize(wt(), gr.hessian, bits as 4 | 8, { scale }, name);
        }));
      }
      if (!kron) continue;
      const [d1, d2] = grp.dims;
      const names = { s: `${grp.first}.s2q.scale`, l: `${grp.first}.s2q.left`, r: `${grp.first}.s2q.right` };
      extra.set(names.s, () => tensor(tensorType('f32', [grp.k]), Float32Array.from(kron.s)));
      extra.set(names.l, () => tensor(tensorType('f32', [d1, d1]), Float32Array.from(transpose(kron.p1, d1))));
      extra.set(names.r, () => tensor(tensorType('f32', [d2, d2]), Float32Array.from(kron.p2)));
      const p = (name: string, shape: readonly number[]): Node => node('param', [], { name }, tensorType('f32', shape));
      const wrap = (x: Node): Node => kronInput(x, p(names.s, [grp.k]), p(names.l, [d1, d1]), p(names.r, [d2, d2]), grp.dims);
      let rows = 0;
      for (const name of grp.weights) {
        const l = linears.get(name);
        if (!l) throw new Error(`s2q: the model has no linear reading '${name}'`);
        wraps.set(l, wrap);
        const x = l.src[0]!;
        rows = numel(x.type.shape) / grp.k;
      }
      clips.set(names.l, gr.clip ?? 1);
      transforms.push({
        param: names.l, kind: 'kron', k: grp.k, rows, flops: rows * grp.k * (1 + 2 * (d1 + d2)), layers: grp.weights,
      });
    }
  }
  const quantizer: LayerQuantizer = (l, w) => quantized.get(l.weight)?.() ?? rtnQuantize(w, l.wBits, l.weight);
  return {
    graph: rewriteInputs(g, wraps), weights: lazyWeights(weights, extra), quantizer, transforms,
    rewriteQdq: (q) => withActivationClips(q, clips),
  };
}

/**
 * token_scale{clip = σ(γ)} for the token_scale of every transformed input: the one whose operand is
 * reshape(matmul(param <w>.s2q.left, …)). Run after insert-qdq, before fuse-int4-gemm moves the chain into it.
 */
export function withActivationClips(g: Graph, clips: ReadonlyMap<string, number>): Graph {
  const swaps = new Map<Node, Node>();
  for (const n of toposort(g)) {
    if (n.op !== 'token_scale') continue;
    let x = n.src[0]!;
    while (x.op === 'reshape') x = x.src[0]!;
    const left = x.op === 'matmul' && x.src[0]!.op === 'param' ? x.src[0]!.attrs['name'] as string : undefined;
    const clip = left !== undefined ? clips.get(left) : undefined;
    if (clip !== undefined && clip < 1) swaps.set(n, node(n.op, n.src, { ...n.attrs, clip: Math.fround(clip) }));
  }
  return substitute(g, swaps);
}
