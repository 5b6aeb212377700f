import { toposort, type Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import type { Op } from '../ir/ops.ts';
import { BINARY_OPS, isLeaf, UNARY_OPS } from '../ir/ops.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { evalBinaryNode, evalUnaryNode, evalWhere } from './reference-elementwise.ts';
import { evalFused } from './reference-fused.ts';
import { evalAttentionColsum } from './reference-colsum.ts';
import { evalSparseAttention } from './reference-sparse-attention.ts';
import { evalTileSelect } from './reference-tile-select.ts';
import { evalAttention, evalLinear, evalMatmul, evalNorm, evalReduce, evalSoftmax } from './reference-nn.ts';
import {
  evalConcat, evalGather, evalPermute, evalReshape, evalSlice, evalTranspose,
} from './reference-shape.ts';
import { evalAdaLN, evalRope3d, evalScheduleValue, evalTimestepEmbedding } from './reference-vdit.ts';
import { evalDequantize, evalQgemm, evalQuantize, evalTokenScale } from './reference-qdq.ts';
import { alloc, finish, fromTensor, storeFn, toTensor, type Ctx, type Val } from './reference-values.ts';
import type { Tensor } from './tensor.ts';

export { evalBinary, evalUnary, castValue, erf } from './reference-elementwise.ts';
export { compileExpr } from './reference-fused.ts';

/**
 * The CPU reference interpreter: the numerical oracle for every target. Float results are stored in f32
 * (f16/bf16 additionally rounded to their precision) with accumulations in f64; `f64: true` keeps every value in
 * f64 instead, as an error-free baseline for the f32 oracle itself.
 */
export interface ReferenceOptions {
  readonly f64?: boolean;
}

type Evaluator = (n: Node, src: readonly Val[], ctx: Ctx) => Val;

const EVAL: Partial<Record<Op, Evaluator>> = {
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, evalUnaryNode])),
  ...Object.fromEntries(BINARY_OPS.map((op) => [op, evalBinaryNode])),
  where: evalWhere,
  reduce_sum: evalReduce,
  reduce_mean: evalReduce,
  reduce_max: evalReduce,
  matmul: evalMatmul,
  linear: evalLinear,
  layernorm: evalNorm,
  rmsnorm: evalNorm,
  softmax: evalSoftmax,
  attention: evalAttention,
  attention_colsum: evalAttentionColsum,
  sparse_attention: evalSparseAttention,
  tile_select: evalTileSelect,
  reshape: evalReshape,
  permute: evalPermute,
  transpose: evalTranspose,
  concat: evalConcat,
  slice: evalSlice,
  gather: evalGather,
  timestep_embedding: evalTimestepEmbedding,
  modulate: evalAdaLN,
  gate: evalAdaLN,
  rope3d: evalRope3d,
  schedule_value: evalScheduleValue,
  token_scale: evalTokenScale,
  quantize: evalQuantize,
  dequantize: evalDequantize,
  qgemm: evalQgemm,
  fused: evalFused,
};

function inputMap(inputs: ReadonlyMap<string, Tensor> | Record<string, Tensor>): ReadonlyMap<string, Tensor> {
  return inputs instanceof Map ? inputs : new Map(Object.entries(inputs));
}

function nameOf(n: Node): string {
  const name = n.attrs['name'];
  if (typeof name !== 'string') throw new Error(`runReference: ${n.op} node without a name attribute: ${n.key}`);
  return name;
}

function listNames(names: Iterable<string>, max = 20): string {
  const all = [...names];
  if (all.length === 0) return 'none';
  return all.slice(0, max).join(', ') + (all.length > max ? `, … (${all.length} in all)` : '');
}

function checkInputNames(g: Graph, inputs: ReadonlyMap<string, Tensor>): void {
  const want = new Set(g.inputs.map(nameOf));
  for (const name of inputs.keys()) {
    if (!want.has(name)) throw new Error(`runReference: unknown input '${name}' (graph inputs: ${listNames(want)})`);
  }
}

function leaf(n: Node, inputs: ReadonlyMap<string, Tensor>, weights: Weights, ctx: Ctx): Val {
  if (n.op === 'const') {
    const v = alloc(n.type, ctx);
    v.data.fill(storeFn(n.type.dtype, ctx.f64)(n.attrs['value'] as number));
    return v;
  }
  const name = nameOf(n);
  if (n.op === 'input') {
    const t = inputs.get(name);
    if (!t) throw new Error(`runReference: missing input '${name}' (given: ${listNames(inputs.keys())})`);
    return fromTensor(t, n, `input '${name}'`, ctx);
  }
  const t = weights.get(name);
  if (!t) throw new Error(`runReference: missing param '${name}' (weights hold: ${listNames(weights.names())})`);
  return fromTensor(t, n, `param '${name}'`, ctx);
}

/** Evaluates every node of g on the CPU and returns the outputs in order. */
export function runReference(
  g: Graph,
  inputs: ReadonlyMap<string, Tensor> | Record<string, Tensor>,
  weights: Weights,
  opts: ReferenceOptions = {},
): Tensor[] {
  const ctx: Ctx = { f64: opts.f64 === true };
  const given = inputMap(inputs);
  checkInputNames(g, given);
  const order = toposort(g);
  const lastUse = new Map<Node, number>();
  order.forEach((n, i) => n.src.forEach((s) => lastUse.set(s, i)));
  const keep = new Set(g.outputs);
  const values = new Map<Node, Val>();
  order.forEach((n, i) => {
    values.set(n, evalNode(n, values, given, weights, ctx));
    // drop operands whose last user this was, so large graphs hold only live tensors
    for (const s of n.src) if (lastUse.get(s) === i && !keep.has(s)) values.delete(s);
  });
  return g.outputs.map((o) => toTensor(values.get(o)!));
}

function evalNode(
  n: Node, values: ReadonlyMap<Node, Val>, inputs: ReadonlyMap<string, Tensor>, weights: Weights, ctx: Ctx,
): Val {
  if (isLeaf(n.op)) return leaf(n, inputs, weights, ctx);
  const f = EVAL[n.op];
  if (!f) throw new Error(`runReference: no evaluator for op '${n.op}'`);
  const src = n.src.map((s) => values.get(s)!);
  const out = f(n, src, ctx);
  return n.op === 'reshape' ? out : finish(out, ctx);
}
