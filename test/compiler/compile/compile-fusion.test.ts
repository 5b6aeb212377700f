import { afterAll, describe, expect, it } from 'vitest';
import { compilePipeline, lowerForCompile } from '../../../compiler/compile/compile-model.ts';
import { seededInputs } from '../../../compiler/inputs.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { tinyConfig } from '../../../compiler/model/presets.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { toposort } from '../../../ir/index.ts';
import { INT4_GEMM_RULES } from '../../../passes/fuse-int4-gemm.ts';
import { createContext } from '../../../passes/pass.ts';
import { rewriteGraph } from '../../../passes/pattern.ts';
import { parsePipeline, runPipeline } from '../../../passes/pipeline.ts';
import { builtinPasses } from '../../../passes/registry.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { WgslExecutor } from '../../../runtime/executor.ts';
import { runReference } from '../../../runtime/reference.ts';

/*
 * The compile pipeline's fuse-int4-gemm on a 2-block tiny model (seeded weights: the embedded checkpoint is being
 * retrained): every block's fc1 takes GELU, attention proj and fc2 the adaLN gate + residual, and the qkv / fc1
 * quantizations read layernorm + modulate; the fused graph still computes the simulated Q/DQ model, on the CPU
 * reference and on Dawn.
 */

const gpu = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
});

const DEPTH = 2;
const cfg = tinyConfig({
  depth: DEPTH, hidden: 64, heads: 2, ffn: 128, video: [4, 16, 16, 3], timeFreqDim: 64,
  rope: { dims: [8, 12, 12], theta: 10000 }, batch: 2,
});
const graph = buildDiT(cfg);
const weights = seededWeights(graph, 7);

function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let [num, den] = [0, 0];
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

describe.skipIf(!gpu)('compile w4a6: fused qgemm epilogues and quantization prologues (needs a WebGPU adapter)', () => {
  const lowered = gpu ? lowerForCompile(graph, weights, 'w4a6', gpu) : undefined;

  it('uses the fused forms in every block', () => {
    const nodes = toposort(lowered!.graph);
    const qgemms = nodes.filter((n) => n.op === 'qgemm');
    const act = cfg.gelu === 'tanh' ? 'gelu_tanh' : 'gelu_erf';
    expect(qgemms.filter((n) => n.attrs['act'] === act)).toHaveLength(DEPTH);
    expect(qgemms.filter((n) => n.attrs['gate'] === true && n.attrs['residual'] === true)).toHaveLength(2 * DEPTH);
    const chains = nodes.filter((n) => n.op === 'token_scale' && n.attrs['norm'] === 'layernorm' && n.attrs['modulate']);
    expect(chains).toHaveLength(2 * DEPTH);
    expect(nodes.filter((n) => n.op === 'quantize' && n.attrs['modulate'])).toHaveLength(2 * DEPTH);
    expect(nodes.filter((n) => n.op === 'gate')).toHaveLength(0);
    expect(lowered!.program.steps.map((s) => s.kernel.name)).toEqual(expect.arrayContaining(['quantize_chain']));
  });

  it('computes what the unfused qgemm graph computes (CPU, ≤ 1e-6), near the Q/DQ simulation, and on Dawn', async () => {
    // the compile pipeline up to (not including) fuse-int4-gemm: the simulated Q/DQ graph
    const qdqText = compilePipeline('w4a6').split(',fuse-int4-gemm')[0]!;
    const sim = runPipeline(graph, parsePipeline(qdqText, builtinPasses())).graph;
    const unfused = rewriteGraph(sim, INT4_GEMM_RULES, createContext());
    const inputs = seededInputs(graph, 3);
    const [want] = runReference(unfused, inputs, lowered!.weights);
    const [cpu] = runReference(lowered!.graph, inputs, lowered!.weights);
    // each fused step rounds as the op it replaces: equal up to f32 reassociation-free rounding 
    expect(relL2(cpu!.data, want!.data)).toBeLessThanOrEqual(1e-6);
    // the float Q/DQ simulation differs by f32 rounding moving a few activations across a quantization step
    const [simOut] = runReference(sim, inputs, lowered!.weights);
    expect(relL2(cpu!.data, simOut!.data)).toBeLessThanOrEqual(1e-3);
    const exec = await WgslExecutor.create(gpu!, lowered!.graph, lowered!.weights, { elem: 'f32' });
    const got = (await exec.run(inputs)).outputs[0]!;
    exec.dispose();
    expect(relL2(got.data, cpu!.data)).toBeLessThanOrEqual(1e-3);
    expect(Math.max(...Array.from(want!.data, Math.abs))).toBeGreaterThan(0);
  });
});
