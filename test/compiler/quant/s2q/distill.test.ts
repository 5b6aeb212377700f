import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../../compiler/data/prng.ts';
import { buildDiT } from '../../../../compiler/model/dit.ts';
import { adamParam, adamStep, cosineLr } from '../../../../compiler/quant/s2q/adamw.ts';
import { blockGraph } from '../../../../compiler/quant/s2q/block-graph.ts';
import { distillBlock, factorGradients, p2Gradient } from '../../../../compiler/quant/s2q/distill.ts';
import { learnedTensors, trainGraph } from '../../../../compiler/quant/s2q/distill-graph.ts';
import { cpuExec } from '../../../../compiler/quant/s2q/exec.ts';
import { invert, transpose } from '../../../../compiler/quant/s2q/kron.ts';
import { profileConfig } from '../../../../compiler/quant/spec.ts';
import { seededWeights } from '../../../../compiler/weights/init.ts';
import { gaussianNoise } from '../../../../runtime/noise.ts';
import { narrowTinySmallClip } from '../../model/narrow-tiny.ts';

const rand = (n: number, seed: number): Float64Array => {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => 2 * r.next() - 1);
};
const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);

describe('S²Q distillation: gradients of the Kronecker factors', () => {
  // L(P) = ⟨A, f(P)⟩ + ⟨B, g(P)⟩ has ∂L/∂f = A and ∂L/∂g = B: the factor rules must turn those into ∂L/∂P
  const d = 5;
  const p = rand(d * d, 1).map((v, i) => v + (i % (d + 1) === 0 ? 3 : 0));
  const [a, b] = [rand(d * d, 2), rand(d * d, 3)];
  const fd = (loss: (p: Float64Array) => number): Float64Array => Float64Array.from({ length: d * d }, (_, i) => {
    const h = 1e-6;
    const [up, dn] = [Float64Array.from(p), Float64Array.from(p)];
    up[i]! += h;
    dn[i]! -= h;
    return (loss(up) - loss(dn)) / (2 * h);
  });

  it('P1 through l = P1ᵀ and lw = P1⁻¹ matches central differences', () => {
    const loss = (q: Float64Array): number => dot(a, transpose(q, d)) + dot(b, invert(q, d));
    const got = factorGradients(d, a, b, invert(p, d));
    const want = fd(loss);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 5));
  });

  it('P2 through r = P2 and rw = P2⁻ᵀ matches central differences', () => {
    const loss = (q: Float64Array): number => dot(a, q) + dot(b, transpose(invert(q, d), d));
    const got = p2Gradient(d, a, b, transpose(invert(p, d), d));
    const want = fd(loss);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 5));
  });
});

describe('AdamW with a cosine schedule', () => {
  it('decays the learning rate from lr to lr·1e-3 and minimises a quadratic', () => {
    expect(cosineLr(1, 0, 100)).toBeCloseTo(1, 12);
    expect(cosineLr(1, 50, 100)).toBeCloseTo(0.5005, 6);
    expect(cosineLr(1, 100, 100)).toBeCloseTo(1e-3, 12);
    const p = adamParam('x', Float64Array.from([3, -2]), 0.1);
    for (let t = 1; t <= 300; t++) adamStep(p, p.value.map((v) => 2 * v), t, cosineLr(1, t - 1, 300));
    expect(Math.abs(p.value[0]!)).toBeLessThan(0.05);
    expect(() => adamStep(p, [NaN, 0], 301, 1)).toThrow(/not finite/);
  });
});

describe('S²Q distillation of one block on the CPU reference', () => {
  const cfg = narrowTinySmallClip(2);
  const weights = seededWeights(buildDiT(cfg), 7);
  const config = profileConfig('deploy', 'w4a4');

  it('the train graph differentiates every learned tensor of every group', () => {
    const bg = blockGraph(cfg, 0, config);
    expect(bg.groups.map((g) => [g.kind, g.weights.length])).toEqual([
      ['row', 1], ['kron', 3], ['kron', 1], ['kron', 1], ['kron', 1],
    ]);
    const { graph, learned } = trainGraph(bg);
    expect(learned).toEqual(learnedTensors(bg));
    expect(graph.outputs.length).toBe(1 + learned.length);
    graph.outputs.slice(1).forEach((g, i) => expect(g.type.shape).toEqual(learned[i]!.shape));
  });

  it('a budget that does not fill its last step (3 records, batch 2) still gives a full Hessian', async () => {
    const bg = blockGraph(cfg, 0, config);
    const [, n, d] = bg.graph.inputs[0]!.type.shape as [number, number, number];
    const records = [{ id: 0, t: 0.5, y: 1 }, { id: 1, t: 0.5, y: 48 }, { id: 2, t: 0.2, y: 3 }];
    const data = records.map((r) => gaussianNoise(n * d, 400 + r.id));
    const res = await distillBlock(bg, weights, { records, input: (id) => data[id]! }, cpuExec(weights), { epochs: 0 });
    expect(res.steps).toBe(0);
    for (const g of res.groups) {
      expect(g.rows).toBe(4);
      for (let i = 0; i < g.group.k; i++) expect(g.hessian[i * g.group.k + i]).toBeGreaterThan(0);
    }
  });

  it('lowers the λ-weighted loss over its epochs and returns clips, factors and the transformed Hessian', async () => {
    const bg = blockGraph(cfg, 1, config);
    const [, n, d] = bg.graph.inputs[0]!.type.shape as [number, number, number];
    const records = Array.from({ length: 4 }, (_, i) => ({ id: i, t: 0.2 + 0.2 * i, y: i % 3 }));
    // large inputs make the block's quantization error large enough to learn from
    const data = records.map((r) => gaussianNoise(n * d, 300 + r.id).map((v) => 4 * v));
    const lambda = (id: number): Float32Array => Float32Array.from({ length: n }, (_, j) => 0.5 + 0.5 * ((j + id) % 3) / 2);
    const res = await distillBlock(bg, weights, { records, input: (id) => data[id]!, lambda }, cpuExec(weights),
      { epochs: 8, lr: 2e-2 });
    expect(res.steps).toBe(8 * 2);
    expect(res.lastLoss!).toBeLessThan(res.firstLoss!);
    for (const g of res.groups) {
      const k = g.group.k;
      expect(g.hessian.length).toBe(k * k);
      for (let i = 0; i < k; i++) {
        expect(g.hessian[i * k + i]).toBeGreaterThan(0);
        for (let j = 0; j < i; j++) expect(g.hessian[i * k + j]).toBeCloseTo(g.hessian[j * k + i]!, 2);
      }
      if (g.group.kind === 'kron') {
        expect(g.clip).toBeGreaterThan(0.5);
        expect(g.clip).toBeLessThan(1);
        expect(() => invert(g.p1!, g.group.dims[0])).not.toThrow();
      }
    }
    for (const c of res.weightClips.values()) c.hi.forEach((v) => expect(v > 0.5 && v < 1).toBe(true));
  }, 120_000);
});
