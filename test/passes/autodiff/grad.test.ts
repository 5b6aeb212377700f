import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../ir/builder.ts';
import { graph, IRError, node, toposort, verify, type Node } from '../../../ir/index.ts';
import { builtinPasses, parsePipeline, runPipeline } from '../../../passes/index.ts';
import { GRAD_GUARD } from '../../../passes/autodiff/grad-guard.ts';
import { grad } from '../../../passes/autodiff/grad.ts';
import { runReference } from '../../../runtime/reference.ts';
import { expectRoundTrip, projected, randomData, weightsOf } from './grad-check.ts';

const sumAll = (b: GraphBuilder, x: Node): Node =>
  b.op('reduce_sum', [x], { axes: [...x.type.shape.keys()], keepdims: false });

describe('grad: outputs, pruning, zero gradients', () => {
  it('returns [loss, grads...]; differentiates only what reaches a wrt leaf', () => {
    const b = GraphBuilder.create('two');
    const [a, c] = [b.input('a', [3, 4]), b.input('c', [3, 4])];
    const w = b.param('w', [3, 4]);
    const unused = b.param('u', [2]);
    const loss = b.add(sumAll(b, b.mul(b.op('exp', [a]), w)), sumAll(b, b.op('sin', [c])));
    const g = b.build([loss, unused]);
    const gg = grad(g, { wrt: ['w', 'u'] });
    verify(gg);
    expectRoundTrip(gg);
    expect(gg.outputs[0]).toBe(loss);
    // sin's VJP (cos) would only appear if the c branch were differentiated
    expect(toposort(gg).some((n) => n.op === 'cos')).toBe(false);
    const d = randomData(g, 5);
    const [, gw, gu] = runReference(gg, d.inputs, weightsOf(d.params));
    const a0 = d.inputs['a']!.data;
    gw!.data.forEach((v, i) => expect(v).toBeCloseTo(Math.exp(a0[i]!), 5));
    expect(Array.from(gu!.data)).toEqual([0, 0]);
    expect(gu!.type.shape).toEqual([2]);
  });

  it('accepts a [1] loss at another output index', () => {
    const b = GraphBuilder.create('l1');
    const x = b.input('x', [4]);
    const l = b.reshape(sumAll(b, b.op('square', [x])), [1]);
    const gg = grad(b.build([x, l]), { loss: 1, wrt: ['x'] });
    const d = randomData(gg, 6);
    const [, gx] = runReference(gg, d.inputs, weightsOf({}));
    gx!.data.forEach((v, i) => expect(v).toBeCloseTo(2 * d.inputs['x']!.data[i]!, 5));
  });
});

describe('grad: errors', () => {
  const b = GraphBuilder.create('bad');
  const x = b.input('x', [2, 3]);
  const w = b.param('w', [3]);
  it('rejects a non-scalar loss, naming its type', () => {
    expect(() => grad(b.build(b.mul(x, w)), { wrt: ['w'] }))
      .toThrow(/the loss \(output 0\) must be a float scalar of shape \[\] or \[1\], got f32\[2,3\]/);
    expect(() => grad(b.build(b.mul(x, w)), { loss: 3, wrt: ['w'] })).toThrow(/loss index 3 is out of range/);
  });
  it('rejects unknown, repeated or no wrt names', () => {
    const g = b.build(sumAll(b, b.mul(x, w)));
    expect(() => grad(g, { wrt: ['v'] })).toThrow(/no input or param named 'v' .*\(have: w, x\)/);
    expect(() => grad(g, { wrt: ['w', 'w'] })).toThrow(/names 'w' twice/);
    expect(() => grad(g, { wrt: [] })).toThrow(IRError);
  });
  it('names an unsupported op on the path and lists the supported ones', () => {
    const table = b.param('emb', [5, 3]);
    const idx = b.input('idx', [2], 'i32');
    const g = b.build(sumAll(b, b.mul(b.gather(table, idx), w)));
    expect(() => grad(g, { wrt: ['emb'] })).toThrow(/no VJP rule for op 'gather' \(supported: .*attention.*softmax/);
    // the same op off the path to wrt is fine
    expect(() => grad(g, { wrt: ['w'] })).not.toThrow();
  });
  it('refuses a quantize that carries a fused producer prologue', () => {
    const q = node('quantize', [x, b.input('d', [2, 1])], { bits: 8, norm: 'layernorm', eps: 1e-6 });
    const g = b.build(sumAll(b, node('dequantize', [q, b.param('s', [2, 1])])));
    expect(() => grad(g, { wrt: ['x'] })).toThrow(/fused producer prologue has no gradient/);
  });
  it("reserves the name 'grad' in a pass registry, so a pipeline naming it fails loudly", () => {
    const p = parsePipeline('canonicalize,grad', builtinPasses());
    expect(p[1]!.pass).toBe(GRAD_GUARD);
    expect(() => runPipeline(b.build(x), p)).toThrow(/'grad' is not a pipeline pass: call grad\(g, \{ loss, wrt \}\)/);
  });
});

describe('straight-through quantize → dequantize (LSQ)', () => {
  // bits 4: q ∈ [−8, 7]; Δ ∈ [0.05, 0.12) so |x/Δ| reaches 30 and many elements clip
  const [R, K, BITS] = [3, 8, 4];
  function expected(x: Float32Array, d: Float32Array, p: Float32Array, withTokenScale: boolean): [number[], number[]] {
    const [qmin, qmax] = [-(2 ** (BITS - 1)), 2 ** (BITS - 1) - 1];
    const dx = new Array<number>(R * K).fill(0);
    const dd = new Array<number>(R).fill(0);
    for (let i = 0; i < R * K; i++) {
      const r = Math.floor(i / K);
      const v = x[i]! / d[r]!;
      const inside = v >= qmin && v <= qmax;
      dx[i] = inside ? p[i]! : 0;
      dd[r]! += p[i]! * (inside ? Math.round(v) - v : Math.min(qmax, Math.max(qmin, Math.round(v))));
    }
    if (withTokenScale) {
      for (let r = 0; r < R; r++) {
        const row = Array.from(x.subarray(r * K, (r + 1) * K), Math.abs);
        const j = r * K + row.indexOf(Math.max(...row));
        dx[j]! += (dd[r]! * Math.sign(x[j]!)) / qmax;
      }
    }
    return [dx, dd];
  }

  it('dx = g inside the clip range, 0 outside; dΔ = Σ g·(round(v) − v | clipped q)', () => {
    const b = GraphBuilder.create('qdq');
    const [x, d] = [b.input('x', [R, K]), b.input('d', [R, 1])];
    const fn = b.build(node('dequantize', [node('quantize', [x, d], { bits: BITS }), d]));
    const gg = grad(projected(fn), { wrt: ['x', 'd'] });
    verify(gg);
    const data = randomData(gg, 31, { d: [0.05, 0.12] });
    const [, gx, gd] = runReference(gg, data.inputs, weightsOf({}), { f64: true });
    const f = (k: string): Float32Array => data.inputs[k]!.data as Float32Array;
    const [x0, d0, p0] = [f('x'), f('d'), f('proj')];
    const [dx, dd] = expected(x0, d0, p0, false);
    expect(dx.some((v) => v === 0) && dx.some((v) => v !== 0)).toBe(true);
    gx!.data.forEach((v, i) => expect(v).toBeCloseTo(dx[i]!, 5));
    gd!.data.forEach((v, i) => expect(v).toBeCloseTo(dd[i]!, 4));
  });

  it('with a dynamic Δ = token_scale(x), the Δ cotangent flows back into max |x|', () => {
    const b = GraphBuilder.create('qdq_dyn');
    const x = b.input('x', [R, K]);
    const d = node('token_scale', [x], { bits: BITS });
    const fn = graph('qdq_dyn', [x], [node('dequantize', [node('quantize', [x, d], { bits: BITS }), d])]);
    const gg = grad(projected(fn), { wrt: ['x'] });
    const data = randomData(gg, 32);
    const [, gx] = runReference(gg, data.inputs, weightsOf({}), { f64: true });
    const x0 = data.inputs['x']!.data as Float32Array;
    const d0 = Float32Array.from({ length: R }, (_, r) =>
      Math.max(...Array.from(x0.subarray(r * K, (r + 1) * K), Math.abs)) / (2 ** (BITS - 1) - 1));
    const [dx] = expected(x0, d0, data.inputs['proj']!.data as Float32Array, true);
    gx!.data.forEach((v, i) => expect(v).toBeCloseTo(dx[i]!, 4));
  });
});
