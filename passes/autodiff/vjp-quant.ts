import { IRError } from '../../ir/errors.ts';
import { hasPrologue } from '../../ir/infer.ts';
import { node, type Node } from '../../ir/node.ts';
import type { Op } from '../../ir/ops.ts';
import { printNode } from '../../ir/print.ts';
import { E4M3_MAX } from '../../ir/fp8.ts';
import { actFormatOf, tokenScaleDivisor } from '../../ir/quant.ts';
import { div, mul, neg, reshape, scalar, step, sub, sumTo } from './ad-ops.ts';
import { composite, type Vjp } from './vjp.ts';

function plain(n: Node): void {
  if (hasPrologue(n.attrs)) {
    throw new IRError(`autodiff: ${n.op} with a fused producer prologue has no gradient; differentiate the graph `
      + `before fuse-int4-gemm\n  at ${printNode(n)}`);
  }
}

// the values quantize keeps: the integer grid's [−qmax − 1, qmax], or ±448 for e4m3 (it saturates beyond)
function keptRange(n: Node): [number, number] {
  if (actFormatOf(n.attrs) === 'e4m3') return [-E4M3_MAX, E4M3_MAX];
  const qmax = 2 ** ((n.attrs['bits'] as number) - 1) - 1;
  return [-qmax - 1, qmax];
}

// the format attr of an e4m3 Q/DQ node, for the nodes its VJP builds (integer ones carry none)
function formatAttrs(n: Node): { format?: 'e4m3' } {
  return actFormatOf(n.attrs) === 'e4m3' ? { format: 'e4m3' } : {};
}

// Δ = max_k |x| / qmax (448 for e4m3), differentiated through its decomposition (the all-zero-row case Δ = 1 has
// no gradient)
const tokenScale: Vjp = (n, g, ad) => {
  plain(n);
  const x = n.src[0]!;
  const rowMax = node('reduce_max', [node('abs', [x])], { axes: [x.type.shape.length - 1], keepdims: true });
  const clip = n.attrs['clip'] as number | undefined;
  const divisor = tokenScaleDivisor(n.attrs['bits'] as number, clip, actFormatOf(n.attrs));
  const d = div(rowMax, scalar(divisor, x.type.dtype));
  return composite(() => (d.type.dtype === 'f32' ? d : node('cast', [d], { to: 'f32' })))(n, g, ad);
};

/**
 * quantize = clamp(round(x/Δ), qmin, qmax) with a straight-through round (LSQ, Esser et al. 2020): with v = x/Δ,
 * dq/dx = 1/Δ and dq/dΔ = −v/Δ where qmin ≤ v ≤ qmax, both 0 outside (the clip). Chained with dequantize
 * (dŷ/dΔ = q) this gives LSQ's step-size gradient: round(v) − v inside, qmin or qmax outside. LSQ's gradient
 * scale 1/√(N·qmax) is left to the optimiser. The integer result carries an f32 cotangent. With format e4m3 the
 * round is to the nearest e4m3 value and the clip is ±448, under the same straight-through rule (q is read as the
 * code's value, see dequantize).
 */
const quantize: Vjp = (n, g) => {
  plain(n);
  const [x, d] = [n.src[0]!, n.src[1]!];
  const v = div(x, d);
  const dt = x.type.dtype;
  const [lo, hi] = keptRange(n);
  const inside = mul(step(sub(v, scalar(lo, dt))), step(sub(scalar(hi, dt), v)));
  const gIn = mul(g, inside);
  return [() => sumTo(div(gIn, d), x.type.shape), () => sumTo(neg(div(mul(gIn, v), d)), d.type.shape)];
};

// ŷ = f32(q) · Δ: dq = g·Δ (straight through to the integer q), dΔ = Σ g·q; q is read as dequantize(q, 1), not
// cast, since GPU storage packs i8 and only the dequantize kernels unpack it (and decode e4m3 codes to values)
const dequantize: Vjp = (n, g) => {
  const [q, d] = [n.src[0]!, n.src[1]!];
  const qf = node('dequantize', [q, scalar(1, d.type.dtype)], formatAttrs(n));
  return [() => sumTo(mul(g, d), q.type.shape), () => sumTo(mul(g, qf), d.type.shape)];
};

function condition(c: Node, x: Node): Node {
  const [b, , dim] = x.type.shape as [number, number, number];
  return reshape(c, [b, 1, dim]);
}

// modulate = x·(1 + scale) + shift and gate = x·g with per-(batch, channel) conditioning
const modulate = composite((n) => {
  const [x, shift, sc] = [n.src[0]!, n.src[1]!, n.src[2]!];
  const one = scalar(1, x.type.dtype);
  return node('add', [mul(x, node('add', [condition(sc, x), one])), condition(shift, x)]);
});

const gate = composite((n) => mul(n.src[0]!, condition(n.src[1]!, n.src[0]!)));

export const VDIT_QUANT_VJPS: Partial<Record<Op, Vjp>> = {
  token_scale: tokenScale,
  quantize,
  dequantize,
  modulate,
  gate,
};
