import { graph, toposort, type Graph } from '../../../ir/graph.ts';
import { node, type Node } from '../../../ir/node.ts';
import type { ActFormat } from '../../../ir/quant.ts';
import { scalar } from '../../../passes/autodiff/ad-ops.ts';
import { grad } from '../../../passes/autodiff/grad.ts';
import { kronInput, kronWeight, leaf, type BlockGraph, type LinearGroup } from './block-graph.ts';

/*
 * The graphs of Sparse Token Distillation (S²Q-VDiT Eq. 10, PAPER.md §4–5) for one block:
 *
 *   train   inputs h, t, y, lambda [B, N] and the learned tensors; output [L, ∂L/∂θ...] with
 *           L = mean_j λ_j · mean_d (θ^f(h) − θ^q(h))²_jd: the FP block against the fake-quantized one, where every
 *           quantized linear reads x̂ = DQ(Q(x̃, Δ_A)), Δ_A = σ(γ)·max_k|x̃|/qmax per token (LAC), and
 *           Ŵ = DQ(Q(W̃, Δ_W)), Δ_W[c] = max(σ(β⁻_c)·(−min_k W̃_ck), σ(β⁺_c)·max_k W̃_ck)/qmax (LWC), rounding
 *           straight through (passes/autodiff/vjp-quant.ts). Token groups use x̃ = kron(x·s), W̃ = kron⁻ᵀ(W/s).
 *           FP8 groups (w4a8-fp8) quantize x̃ as the deployed model does: Q/DQ{format=e4m3}, qmax = 448, values
 *           rounded to the nearest e4m3; the weights stay on the integer grid either way.
 *   stats   inputs h, t, y and each token group's s, l, r; outputs per group max_rows|x| [K] and x̃ᵀx̃ [K, K] of
 *           the FP activation (the GPTQ Hessian of the transformed weight).
 *
 * The inverse factors are inputs (lw = P1⁻¹, rw = P2⁻ᵀ) computed on the CPU each step: the optimiser maps their
 * gradients back onto P1, P2 (distill.ts). Every learned tensor is an f32 graph input named `<weight>.s2q.<part>`.
 */

export interface Learned {
  readonly name: string;
  readonly shape: readonly number[];
}

export const groupPart = (g: LinearGroup, part: 's' | 'l' | 'r' | 'lw' | 'rw' | 'gamma'): string => `${g.first}.s2q.${part}`;
export const clipPart = (weight: string, part: 'bp' | 'bm'): string => `${weight}.s2q.${part}`;

/** The learned tensors of a block, in the order of the train graph's gradient outputs. */
export function learnedTensors(bg: BlockGraph): Learned[] {
  const out: Learned[] = [];
  for (const g of bg.groups) {
    if (g.kind === 'kron') {
      const [d1, d2] = g.dims;
      out.push({ name: groupPart(g, 's'), shape: [g.k] }, { name: groupPart(g, 'l'), shape: [d1, d1] },
        { name: groupPart(g, 'r'), shape: [d2, d2] }, { name: groupPart(g, 'lw'), shape: [d1, d1] },
        { name: groupPart(g, 'rw'), shape: [d2, d2] }, { name: groupPart(g, 'gamma'), shape: [1] });
    }
    for (const l of g.linears) {
      const w = l.src[1]!;
      const name = w.attrs['name'] as string;
      const n = w.type.shape[0]!;
      out.push({ name: clipPart(name, 'bp'), shape: [n, 1] }, { name: clipPart(name, 'bm'), shape: [n, 1] });
    }
  }
  return out;
}

const qmax = (bits: number): Node => scalar(2 ** (bits - 1) - 1);
// format attrs as insert-qdq writes them: only e4m3 nodes carry one
const formatAttrs = (format: ActFormat): { format?: ActFormat } => (format === 'int' ? {} : { format });
const fakeQuant = (v: Node, d: Node, bits: number, format: ActFormat = 'int'): Node =>
  node('dequantize', [node('quantize', [v, d], { bits, ...formatAttrs(format) }), d], formatAttrs(format));
const sigmoid = (name: string, shape: readonly number[]): Node => node('sigmoid', [leaf(name, shape)]);

function weightHat(w: Node, g: LinearGroup, lw?: Node, rw?: Node, s?: Node): Node {
  const name = w.attrs['name'] as string;
  const bits = g.wBits.get(name)!;
  const wt = s && lw && rw ? kronWeight(w, s, lw, rw, g.dims) : w;
  const n = w.type.shape[0]!;
  const hi = node('reduce_max', [wt], { axes: [1], keepdims: true });
  const lo = node('reduce_max', [node('neg', [wt])], { axes: [1], keepdims: true });
  const clipped = node('max', [node('mul', [sigmoid(clipPart(name, 'bm'), [n, 1]), lo]),
    node('mul', [sigmoid(clipPart(name, 'bp'), [n, 1]), hi])]);
  return fakeQuant(wt, node('div', [clipped, qmax(bits)]), bits);
}

/**
 * x̂ = DQ(Q(x̃, Δ_A)) with Δ_A = clip · max_k|x̃| / qmax per token, in the group's activation format: the integer
 * grid, or e4m3 (qmax = 448) as a w4a8-fp8 build quantizes at inference.
 */
export function activationHat(xt: Node, g: Pick<LinearGroup, 'aBits' | 'aFormat'>, clip?: Node): Node {
  const d = node('token_scale', [xt], { bits: g.aBits, ...formatAttrs(g.aFormat) });
  return fakeQuant(xt, clip ? node('mul', [d, clip]) : d, g.aBits, g.aFormat);
}

/** The FP block's output and the fake-quantized block's, both over the block graph's inputs. */
export function quantizedBlock(bg: BlockGraph): { fp: Node; q: Node } {
  const byLinear = new Map<Node, LinearGroup>();
  for (const g of bg.groups) for (const l of g.linears) byLinear.set(l, g);
  const xHat = new Map<LinearGroup, Node>();
  const memo = new Map<Node, Node>();
  for (const n of toposort(bg.graph)) {
    const src = n.src.map((s) => memo.get(s) ?? s);
    const g = byLinear.get(n);
    if (!g) {
      const same = src.every((s, i) => s === n.src[i]);
      memo.set(n, same ? n : node(n.op, src, n.attrs, n.src.length ? undefined : n.type));
      continue;
    }
    const [d1, d2] = g.dims;
    const kron = g.kind === 'kron';
    const s = kron ? leaf(groupPart(g, 's'), [g.k]) : undefined;
    let xh = xHat.get(g);
    if (!xh) {
      const x = src[0]!;
      const xt = kron ? kronInput(x, s!, leaf(groupPart(g, 'l'), [d1, d1]), leaf(groupPart(g, 'r'), [d2, d2]), g.dims) : x;
      xHat.set(g, (xh = activationHat(xt, g, kron ? sigmoid(groupPart(g, 'gamma'), [1]) : undefined)));
    }
    const lw = kron ? leaf(groupPart(g, 'lw'), [d1, d1]) : undefined;
    const rw = kron ? leaf(groupPart(g, 'rw'), [d2, d2]) : undefined;
    memo.set(n, node('linear', [xh, weightHat(src[1]!, g, lw, rw, s), ...src.slice(2)], n.attrs));
  }
  const fp = bg.graph.outputs[0]!;
  return { fp, q: memo.get(fp) ?? fp };
}

/** [L, ∂L/∂θ for θ in learnedTensors(bg)] over inputs h, t, y, lambda, θ. */
export function trainGraph(bg: BlockGraph): { graph: Graph; learned: Learned[] } {
  const { fp, q } = quantizedBlock(bg);
  const [b, n] = fp.type.shape as [number, number, number];
  const lambda = leaf('lambda', [b, n]);
  const err = node('reduce_mean', [node('square', [node('sub', [q, fp])])], { axes: [2], keepdims: false });
  const loss = node('reduce_mean', [node('mul', [err, lambda])], { axes: [0, 1], keepdims: false });
  const learned = learnedTensors(bg);
  const inputs = [...bg.graph.inputs, lambda, ...learned.map((l) => leaf(l.name, l.shape))];
  const fwd = graph(`${bg.graph.name}.std`, inputs, [loss]);
  return { graph: grad(fwd, { wrt: learned.map((l) => l.name) }), learned };
}

/** Per group: max_rows |x| [K] and x̃ᵀx̃ [K, K] (x̃ = x for row groups) of the FP activation. */
export function statsGraph(bg: BlockGraph): { graph: Graph; transforms: Learned[] } {
  const outs: Node[] = [];
  const transforms: Learned[] = [];
  for (const g of bg.groups) {
    const x = g.x;
    const rank = x.type.shape.length;
    outs.push(node('reduce_max', [node('abs', [x])], { axes: Array.from({ length: rank - 1 }, (_, i) => i), keepdims: false }));
    let xt = x;
    if (g.kind === 'kron') {
      const [d1, d2] = g.dims;
      const parts = [{ name: groupPart(g, 's'), shape: [g.k] }, { name: groupPart(g, 'l'), shape: [d1, d1] },
        { name: groupPart(g, 'r'), shape: [d2, d2] }];
      transforms.push(...parts);
      xt = kronInput(x, leaf(parts[0]!.name, parts[0]!.shape), leaf(parts[1]!.name, parts[1]!.shape),
        leaf(parts[2]!.name, parts[2]!.shape), g.dims);
    }
    const rows = x.type.shape.slice(0, -1).reduce((a, c) => a * c, 1);
    const x2 = node('reshape', [xt], { shape: [rows, g.k] });
    outs.push(node('matmul', [node('transpose', [x2], { dim0: 0, dim1: 1 }), x2]));
  }
  const inputs = [...bg.graph.inputs, ...transforms.map((l) => leaf(l.name, l.shape))];
  return { graph: graph(`${bg.graph.name}.stats`, inputs, outs), transforms };
}
