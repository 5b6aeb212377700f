import { node, type Node } from '../ir/index.ts';
import { checkOptions, definePass } from './pass.ts';
import { any, pat, rewriteGraph, rule, type Pattern, type Rule } from './pattern.ts';
import { epilogueRules } from './qgemm-epilogue.ts';
import { prologueRules } from './quant-prologue.ts';
import { rewriteWithUses } from './uses.ts';

/*
 * Simulated quantized linears (insert-qdq) → integer GEMMs:
 *
 *   linear(dequantize(quantize{a}(x, s), s), dequantize(wq, sw), b?)
 *     →  qgemm{abits=a, wbits}(quantize{a}(x, s), s, wq, sw, b?)
 *
 * quantize{format=e4m3} (FP8 activations) gives qgemm{aformat=e4m3}, whose sum is over e4m3 × int4 values in f32.
 * wq is i4 (wbits 4, packed) or i8 (wbits 8); s must be the per-token [..., 1] scale and sw the per-channel [N, 1]
 * scale, else the linear is left as it is (qgemm's type rule would reject it). The float dequantize of the
 * activations and of the weights drop out of the graph: the product runs on integers, the scales multiply once.
 *
 * Fused: the two dequantizes and the matmul, and the bias (added in f32 after the integer sum). Then, in one sweep each
 * over the uses (passes/uses.ts), two more rule tables:
 *   - the epilogue (passes/qgemm-epilogue.ts): GELU after fc1, the adaLN gate and the residual add join the qgemm
 *     that is their only operand's producer: add(x, gate(gelu(qgemm(..)), g)) → qgemm{act, gate, residual};
 *   - the producer prologue (passes/quant-prologue.ts): token_scale and quantize of modulate(layernorm(h)) (or a
 *     norm, or an elementwise chain) read h and the chain's operands, so the f32 activation is never stored.
 * Not fused: quantization of a qgemm's own output (its row spans workgroups), and of attention outputs.
 * Stats: fuse-int4-gemm.<rule> for every rule of the three tables.
 */

function named<N extends string, K extends string>(name: N, p: Pattern<K>): Pattern<N | K> {
  const bind = any(name);
  return { match: (n, caps) => p.match(n, caps) && bind.match(n, caps) };
}

const isIntWeight = (n: Node): boolean => (n.type.dtype === 'i4' || n.type.dtype === 'i8') && n.type.shape.length === 2;

const ACTIVATION = named('xdq', pat('dequantize', [named('xq', pat('quantize', [any('x'), any('s')])), any('s')]));
const WEIGHT = pat('dequantize', [any('wq', isIntWeight), any('sw')]);

/**
 * The qgemm, or undefined when the scales do not have the per-token / per-channel shapes it requires or the
 * dequantize reads the codes in another format than quantize wrote them.
 */
function qgemm(xdq: Node, xq: Node, s: Node, wq: Node, sw: Node, b?: Node): Node | undefined {
  const format = xq.attrs['format'] ?? 'int';
  if ((xdq.attrs['format'] ?? 'int') !== format) return undefined;
  const xs = xq.type.shape;
  const n = wq.type.shape[0]!;
  const tokenScale = [...xs.slice(0, -1), 1].join();
  if (s.type.shape.join() !== tokenScale || s.type.dtype !== 'f32') return undefined;
  if (sw.type.shape.join() !== `${n},1` || sw.type.dtype !== 'f32') return undefined;
  if (b && b.type.dtype !== 'f32') return undefined;
  const attrs = {
    abits: xq.attrs['bits'] as number, wbits: wq.type.dtype === 'i4' ? 4 : 8, ...(format === 'int' ? {} : { aformat: format }),
  };
  return node('qgemm', [xq, s, wq, sw, ...(b ? [b] : [])], attrs);
}

export const INT4_GEMM_RULES: readonly Rule[] = [
  // linear(dq(q(x, s), s), dq(wq, sw)) -> qgemm(q(x, s), s, wq, sw)
  rule('qgemm', pat('linear', [ACTIVATION, WEIGHT]), ({ xdq, xq, s, wq, sw }) => qgemm(xdq, xq, s, wq, sw)),
  // the same with a bias, which qgemm adds after scaling the integer sum
  rule('qgemm-bias', pat('linear', [ACTIVATION, WEIGHT, any('b')]), ({ xdq, xq, s, wq, sw, b }) => qgemm(xdq, xq, s, wq, sw, b)),
];

export const fuseInt4Gemm = definePass({
  name: 'fuse-int4-gemm',
  description: 'linear over dequantized activations and int4/int8 weights -> qgemm on integers (+ bias, GELU, gate, '
    + 'residual), with the per-token quantization fused into the producer of its input',
  run: (g, ctx) => {
    checkOptions(ctx, 'fuse-int4-gemm', []);
    const gemms = rewriteGraph(g, INT4_GEMM_RULES, ctx, { statPrefix: 'fuse-int4-gemm' });
    const epilogues = rewriteWithUses(gemms, epilogueRules, ctx, 'fuse-int4-gemm');
    return rewriteWithUses(epilogues, prologueRules, ctx, 'fuse-int4-gemm');
  },
});
