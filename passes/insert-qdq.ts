import { node, tensorType, toposort, type Graph, type Node } from '../ir/index.ts';
import { weightDtype, type ActFormat, type QuantSpec } from '../ir/quant.ts';
import { configFromOptions, planLinears, type QuantConfig } from '../compiler/quant/spec.ts';
import { bumpStat, checkOptions, definePass, type PassContext } from './pass.ts';
import { pat, any, rewriteGraph, rule, type Rule } from './pattern.ts';

/*
 * Quantize/dequantize around every linear the QuantConfig selects (compiler/quant/spec.ts):
 *
 *   linear(x, param w, b?)  →  linear(dequantize(quantize{a}(x, s), s), dequantize(param w.q, param w.scale), b?)
 *                              with s = token_scale{a}(x), w.q: i4|i8 [N, K], w.scale: f32 [N, 1]
 *
 * FP8 specs (w4a8-fp8) give token_scale / quantize / dequantize{format=e4m3}: e4m3 codes instead of integers.
 * The result still computes in float (a simulated quantized graph); fuse-int4-gemm turns each such linear into an
 * integer qgemm. Linears sharing an input and activation bits share one token_scale and quantize (hash-consing).
 * The FP weights of quantized layers disappear from the graph: compiler/quant/quantized-weights.ts supplies w.q
 * and w.scale by name. Stats: insert-qdq.quantized, insert-qdq.kept-fp (and .kept-fp-<reason>).
 */

const OPTIONS = ['quant', 'include', 'exclude', 'overrides', 'spec', 'profile', 'keep-fp'];

/**
 * dequantize(quantize{bits}(x, s), s) with the per-token dynamic scale s = token_scale{bits}(x); FP8 activations
 * carry format = 'e4m3' on all three (integer ones carry no format attr, so their IR text is unchanged).
 */
export function qdqActivation(x: Node, bits: number, format: ActFormat = 'int'): Node {
  const attrs = format === 'int' ? { bits } : { bits, format };
  const s = node('token_scale', [x], attrs);
  return node('dequantize', [node('quantize', [x, s], attrs), s], format === 'int' ? {} : { format });
}

/** dequantize(param <w>.q, param <w>.scale): the stored integer weight and its per-output-channel scales. */
export function qdqWeight(w: Node, spec: QuantSpec): Node {
  const name = w.attrs['name'] as string;
  const [n, k] = w.type.shape as [number, number];
  const q = node('param', [], { name: `${name}.q` }, tensorType(weightDtype(spec.wBits), [n, k]));
  const scale = node('param', [], { name: `${name}.scale` }, tensorType('f32', [n, 1]));
  return node('dequantize', [q, scale]);
}

function qdqRules(specs: ReadonlyMap<Node, QuantSpec>): Rule[] {
  const quantized = (n: Node): boolean => specs.has(n);
  const rewrite = (x: Node, w: Node, b?: Node): Node => {
    const spec = specs.get(w)!;
    return node('linear', [qdqActivation(x, spec.aBits, spec.aFormat), qdqWeight(w, spec), ...(b ? [b] : [])]);
  };
  return [
    // linear(x, w) whose weight the spec selects
    rule('linear', pat('linear', [any('x'), any('w', quantized)]), ({ x, w }) => rewrite(x, w)),
    // the same with a bias, which stays f32 and is added after the integer product
    rule('linear-bias', pat('linear', [any('x'), any('w', quantized), any('b')]), ({ x, w, b }) => rewrite(x, w, b)),
  ];
}

/** The pass body for a config given as an object (the registered pass builds one from its options). */
export function insertQdqWith(g: Graph, config: QuantConfig, ctx: PassContext): Graph {
  const plan = planLinears(g, config);
  for (const k of plan.keptFp) {
    bumpStat(ctx, 'insert-qdq.kept-fp');
    bumpStat(ctx, `insert-qdq.kept-fp-${k.reason}`);
  }
  if (plan.quantized.length === 0) return g;
  const specs = new Map(plan.quantized.map((p) => [p.weight, p.spec]));
  const count = toposort(g).filter((n) => n.op === 'linear' && specs.has(n.src[1]!)).length;
  bumpStat(ctx, 'insert-qdq.quantized', count);
  return rewriteGraph(g, qdqRules(specs), ctx, { fixedPoint: false, statPrefix: 'insert-qdq.rule' });
}

export const insertQdq = definePass({
  name: 'insert-qdq',
  description:
    'quantize/dequantize around the block linears (quant=w4a6; include/exclude/overrides patterns; spec=JSON; ' +
    'profile=lineage|deploy; keep-fp patterns)',
  run: (g, ctx) => {
    checkOptions(ctx, 'insert-qdq', OPTIONS);
    return insertQdqWith(g, configFromOptions(ctx.options), ctx);
  },
});
