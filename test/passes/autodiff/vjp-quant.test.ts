import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../ir/builder.ts';
import { decodeE4m3, E4M3_MAX, encodeE4m3 } from '../../../ir/fp8.ts';
import { graph, node, verify } from '../../../ir/index.ts';
import { tensorType } from '../../../ir/types.ts';
import { grad } from '../../../passes/autodiff/grad.ts';
import { runReference } from '../../../runtime/reference.ts';
import { projected, randomData, weightsOf } from './grad-check.ts';

describe('straight-through e4m3 quantize → dequantize (FP8 activations, LSQ rule)', () => {
  const [R, K] = [3, 8];
  const FP8 = { bits: 8, format: 'e4m3' } as const;
  const value = (v: number): number => decodeE4m3(encodeE4m3(v));

  // dx = g where −448 < v < 448 (step is strict), 0 where e4m3 saturates; dΔ = Σ g·(value(v) − v | ±448);
  // with Δ = token_scale(x), dΔ flows into max |x| through 1/448
  function expected(x: Float32Array, d: Float32Array, p: Float32Array, withTokenScale: boolean): [number[], number[]] {
    const dx = new Array<number>(R * K).fill(0);
    const dd = new Array<number>(R).fill(0);
    for (let i = 0; i < R * K; i++) {
      const r = Math.floor(i / K);
      const v = x[i]! / d[r]!;
      const inside = v > -E4M3_MAX && v < E4M3_MAX;
      dx[i] = inside ? p[i]! : 0;
      dd[r]! += p[i]! * (inside ? value(v) - v : value(v));
    }
    if (withTokenScale) {
      for (let r = 0; r < R; r++) {
        const row = Array.from(x.subarray(r * K, (r + 1) * K), Math.abs);
        const j = r * K + row.indexOf(Math.max(...row));
        dx[j]! += (dd[r]! * Math.sign(x[j]!)) / E4M3_MAX;
      }
    }
    return [dx, dd];
  }

  it('a fixed Δ: dx passes inside ±448 and stops where e4m3 saturates; dΔ is the e4m3 rounding residue', () => {
    const b = GraphBuilder.create('qdq8');
    const [x, d] = [b.input('x', [R, K]), b.input('d', [R, 1])];
    const fn = b.build(node('dequantize', [node('quantize', [x, d], FP8), d], { format: 'e4m3' }));
    const gg = grad(projected(fn), { wrt: ['x', 'd'] });
    verify(gg);
    // |x / Δ| up to 750: a third of the values saturate
    const data = randomData(gg, 41, { d: [0.002, 0.004] });
    const [, gx, gd] = runReference(gg, data.inputs, weightsOf({}), { f64: true });
    const f = (k: string): Float32Array => data.inputs[k]!.data as Float32Array;
    const [dx, dd] = expected(f('x'), f('d'), f('proj'), false);
    expect(dx.some((v) => v === 0) && dx.some((v) => v !== 0)).toBe(true);
    gx!.data.forEach((v, i) => expect(v).toBeCloseTo(dx[i]!, 5));
    gd!.data.forEach((v, i) => expect(v).toBeCloseTo(dd[i]!, 4));
    // the integer rule's dΔ (round(v) − v, clip at ±127) is a different gradient
    const intD = Array.from({ length: R }, (_, r) => f('proj').subarray(r * K, (r + 1) * K).reduce((s, p, j) => {
      const v = f('x')[r * K + j]! / f('d')[r]!;
      return s + p * (Math.abs(v) <= 127 ? Math.round(v) - v : Math.sign(v) * 127);
    }, 0));
    expect(intD.some((v, r) => Math.abs(v - gd!.data[r]!) > 1e-2)).toBe(true);
  });

  it('a dynamic Δ = token_scale{format=e4m3}(x) = max |x| / 448', () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [R, K]));
    const d = node('token_scale', [x], FP8);
    const fn = graph('qdq8_dyn', [x], [node('dequantize', [node('quantize', [x, d], FP8), d], { format: 'e4m3' })]);
    const gg = grad(projected(fn), { wrt: ['x'] });
    const data = randomData(gg, 42);
    const [, gx] = runReference(gg, data.inputs, weightsOf({}), { f64: true });
    const x0 = data.inputs['x']!.data as Float32Array;
    const d0 = Float32Array.from({ length: R }, (_, r) =>
      Math.max(...Array.from(x0.subarray(r * K, (r + 1) * K), Math.abs)) / E4M3_MAX);
    const [dx] = expected(x0, d0, data.inputs['proj']!.data as Float32Array, true);
    gx!.data.forEach((v, i) => expect(v).toBeCloseTo(dx[i]!, 4));
  });
});
