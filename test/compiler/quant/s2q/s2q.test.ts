import { describe, expect, it } from 'vitest';
import { lowerQuantized } from '../../../../compiler/compile/quant-build.ts';
import { seededInputs } from '../../../../compiler/inputs.ts';
import { modelDims } from '../../../../compiler/model/config.ts';
import { buildDiT } from '../../../../compiler/model/dit.ts';
import { cpuExec } from '../../../../compiler/quant/s2q/exec.ts';
import { clippedScales, s2qCalibrate, s2qMethodModel, withActivationClips } from '../../../../compiler/quant/s2q/s2q.ts';
import { storeLinearStats } from '../../../../compiler/quant/s2q/store-stats.ts';
import { profileConfig } from '../../../../compiler/quant/spec.ts';
import { seededWeights } from '../../../../compiler/weights/init.ts';
import { toposort } from '../../../../ir/graph.ts';
import { verify } from '../../../../ir/verify.ts';
import { parsePipeline, runPipeline } from '../../../../passes/pipeline.ts';
import { builtinPasses } from '../../../../passes/registry.ts';
import { gaussianNoise } from '../../../../runtime/noise.ts';
import { runReference } from '../../../../runtime/reference.ts';
import { narrowTinySmallClip } from '../../model/narrow-tiny.ts';

const cfg = narrowTinySmallClip(2);
const graph = buildDiT(cfg);
const weights = seededWeights(graph, 7);

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let [num, den] = [0, 0];
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

describe('S²Q fold into the deployed model (CPU reference)', async () => {
  const [n, d] = [modelDims(cfg).videoTokens, cfg.hidden];
  const records = Array.from({ length: 4 }, (_, i) => ({ id: i, t: 0.15 + 0.2 * i, y: i % 4 }));
  const data = records.map((r) => gaussianNoise(n * d, 500 + r.id).map((v) => 3 * v));
  const result = await s2qCalibrate(cfg, weights, profileConfig('deploy', 'w4a6'), {
    records, input: (_, id) => data[id]!,
  }, cpuExec(weights), { epochs: 1 });
  const m = s2qMethodModel(graph, weights, result);
  const inputs = seededInputs(graph, 11);
  const fp = runReference(graph, inputs, weights)[0]!.data;

  it('is exact in FP: kron(x·s)·W̃ᵀ replaces x·Wᵀ in every block', () => {
    expect(m.transforms.map((t) => t.kind)).toEqual(Array(8).fill('kron'));
    expect(toposort(m.graph).filter((x) => x.op === 'matmul' && x.src[0]!.op === 'param').length).toBe(8);
    const got = runReference(m.graph, inputs, m.weights)[0]!.data;
    expect(relErr(got, fp)).toBeLessThan(1e-5);
  });

  it('puts each group\'s learned activation clip on the token_scale of its transformed input', () => {
    const run = (text: string) => runPipeline(m.graph, parsePipeline(text, new Map(builtinPasses())), { verify }).graph;
    const qdq = withActivationClips(run('canonicalize,insert-qdq{quant=w4a6,profile=deploy}'), new Map(
      result.blocks.flatMap((b) => b.groups.filter((g) => g.clip !== undefined)
        .map((g) => [`${g.group.first}.s2q.left`, g.clip!] as const))));
    const clips = toposort(qdq).filter((x) => x.op === 'token_scale' && x.attrs['clip'] !== undefined);
    expect(clips.length).toBe(8);
    for (const c of clips) expect(c.attrs['clip']).toBeLessThan(1);
  });

  it('lowers to integer qgemms with clipped token scales that stay close to FP', () => {
    const q = lowerQuantized(graph, weights, 'w4a6', [], 's2q', { model: m, ms: 1, inputs: 2 });
    const nodes = toposort(q.graph);
    expect(nodes.filter((x) => x.op === 'qgemm').length).toBeGreaterThanOrEqual(12);
    expect(nodes.some((x) => x.op === 'token_scale' && typeof x.attrs['clip'] === 'number')).toBe(true);
    expect(q.report.method).toBe('s2q');
    expect(q.report.onlineRotations).toBe(8);
    const got = runReference(q.graph, inputs, q.weights)[0]!.data;
    const e = relErr(got, fp);
    expect(e).toBeGreaterThan(0);
    expect(e).toBeLessThan(0.2);
  });

  it('gathers the baselines\' statistics from the same records, the final adaLN sharing silu(c)\'s', async () => {
    const config = profileConfig('deploy', 'w4a6');
    const stats = await storeLinearStats(cfg, graph, weights, config, { records, input: (_, id) => data[id]! }, cpuExec(weights));
    expect(stats.get('final_layer.adaLN_modulation.1.weight')).toBe(stats.get('blocks.0.adaLN_modulation.1.weight'));
    expect(stats.get('blocks.1.attn.k.weight')).toBe(stats.get('blocks.1.attn.q.weight'));
    const fc2 = stats.get('blocks.1.mlp.fc2.weight')!;
    expect(fc2.rows).toBe(records.length * n);
    expect(fc2.absMax.every((v) => v > 0)).toBe(true);
    const q = lowerQuantized(graph, weights, 'w4a6', [], 'gptq', { stats });
    const got = runReference(q.graph, inputs, q.weights)[0]!.data;
    expect(relErr(got, fp)).toBeLessThan(0.2);
  });

  it('refuses s2q without its calibration', () => {
    expect(() => lowerQuantized(graph, weights, 'w4a6', [], 's2q')).toThrow(/needs its calibration/);
  });
});

describe('clippedScales (learned weight clip)', () => {
  it('is max(σ(β⁻)·|min|, σ(β⁺)·max) / qmax per row, 1 for a zero row', () => {
    const w = [1, -3, 2, 0, 0, 0];
    const s = clippedScales(w, 2, 3, [0.5, 1], [0.9, 1], 4);
    expect(s[0]).toBeCloseTo(Math.max(0.9 * 3, 0.5 * 2) / 7, 6);
    expect(s[1]).toBe(1);
  });
});
