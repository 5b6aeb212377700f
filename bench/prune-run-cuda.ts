// A whole sampling run of a preset's denoiser on the CUDA runner, dense against a per-step pruning schedule with its
// carried state on the device (bench/step-schedules.ts; default lz30w7r3e, the recommended one): each build runs the
// sampler's 30 forwards (t = the Euler timesteps, noisiest first) through CudaRunner.step, in two runs on fresh
// runners, and every step's wall time (inputs up, velocity back, the forward) is the faster of the two. Seeded
// weights and inputs, never zeros; x and the conditioning stay the same across steps (the time does not depend on
// their values, the tile lists the online selection picks aside). Run on the GPU:
//   npx tsx bench/prune-run-cuda.ts [preset=cogvideox-2b] [--schedule lz30w7r3e] [--quant w4a8|none] [-o out.json]
import { renameSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parsePrune, pruneFromStore } from '../compiler/commands/compile-calibration.ts';
import { lowerQuantized } from '../compiler/compile/quant-build.ts';
import { seededInputs } from '../compiler/inputs.ts';
import { loadModel } from '../compiler/models.ts';
import { carryInputs } from '../ir/carry.ts';
import type { Graph } from '../ir/graph.ts';
import { verify } from '../ir/verify.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../passes/pipeline.ts';
import { pruneTokens, withTensors } from '../passes/prune-tokens.ts';
import { builtinPasses } from '../passes/registry.ts';
import { CudaRunner } from '../runtime/cuda-runner.ts';
import { flowTimestep } from '../runtime/sampler.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import type { SamplingRun } from './prune-report.ts';
import { pruneValue, SCHEDULE_STEPS, STEP_SCHEDULES, stepKeeps, stepKinds } from './step-schedules.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const preset = args[0] && !args[0].startsWith('-') ? args[0] : 'cogvideox-2b';
const quant = opt('--quant', 'w4a8');
const out = opt('-o', '');
const schedule = STEP_SCHEDULES.find((s) => s.name === opt('--schedule', 'lz30w7r3e'));
if (!schedule) throw new Error(`--schedule: one of ${STEP_SCHEDULES.map((s) => s.name).join(', ')}`);
const prune = pruneValue(schedule);
const kinds = stepKinds(stepKeeps(schedule), schedule.lazy);

const model = loadModel(preset, { weights: 'seeded' });
const pruneOpts = pruneFromStore(parsePrune(prune), undefined, model);
// a quantized build prunes inside lowerQuantized, before its lowering (as vdit compile does)
const build = (pruned: boolean): { graph: Graph; weights: Weights } => {
  if (quant !== 'none') return lowerQuantized(model.graph, model.weights, quant, [], 'rtn', pruned ? { prune: pruneOpts } : {});
  if (!pruned) return { graph: model.graph, weights: model.weights };
  const p = pruneTokens(model.graph, pruneOpts);
  return { graph: p.graph, weights: withTensors(model.weights, p.tensors) };
};
const pipeline = (g: Graph): Graph =>
  runPipeline(g, parsePipeline(DEFAULT_PIPELINE, new Map(builtinPasses())), { verify }).graph;

/** One 30-step run of `graph` through CudaRunner.step on a fresh runner (the carries start at zero): wall ms a step. */
async function runOnce(graph: Graph, weights: Weights): Promise<{ stepMs: number[]; device: string }> {
  const runner = await CudaRunner.open(graph, weights);
  try {
    const carried = new Set(carryInputs(graph).map((n) => n.attrs['name'] as string));
    const inputs: Record<string, Tensor> = Object.fromEntries(
      Object.entries(seededInputs(graph, 11)).filter(([k]) => !carried.has(k)));
    const tIn = graph.inputs.find((n) => n.attrs['name'] === 't')!;
    const stepMs: number[] = [];
    for (let i = 0; i < SCHEDULE_STEPS; i++) {
      inputs['t'] = tensor(tIn.type, new Float32Array(tIn.type.shape[0]!).fill(flowTimestep(i, SCHEDULE_STEPS)));
      const t0 = performance.now();
      await runner.step(inputs);
      stepMs.push(performance.now() - t0);
    }
    return { stepMs, device: runner.device };
  } finally {
    runner.close();
  }
}

/** Per step, the faster of two runs (the first also warms the build cache and the GPU). */
async function run(graph: Graph, weights: Weights): Promise<{ stepMs: number[]; device: string }> {
  const [a, b] = [await runOnce(graph, weights), await runOnce(graph, weights)];
  process.stderr.write(`${graph.name}: ${a.stepMs.map((x) => x.toFixed(0)).join(' ')}\n`);
  return { stepMs: a.stepMs.map((x, i) => Math.min(x, b.stepMs[i]!)), device: b.device };
}

const [denseBuild, prunedBuild] = [build(false), build(true)];
if (!carryInputs(prunedBuild.graph).length) throw new Error(`${schedule.name}: the pruned build carries no state`);
// the quantized builds are lowered already; the FP ones take the default pipeline, as openDenoiser does
const lower = (g: Graph): Graph => (quant === 'none' ? pipeline(g) : g);
const dense = await run(lower(denseBuild.graph), denseBuild.weights);
const sparse = await run(lower(prunedBuild.graph), prunedBuild.weights);
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const byKind = Object.fromEntries((['dense', 'refresh', 'select', 'pruned'] as const).map((k) => {
  const ms = sparse.stepMs.filter((_, i) => kinds[i] === k);
  return [k, { steps: ms.length, medianMs: ms.length ? median(ms) : 0 }];
})) as SamplingRun['byKind'];
// the fields bench/prune-report.ts reads, then the speedup and the per-step times
const summary: SamplingRun = {
  preset, quant, schedule: schedule.name, prune, device: dense.device, steps: SCHEDULE_STEPS,
  denseStepMs: median(dense.stepMs), denseRunMs: sum(dense.stepMs), prunedRunMs: sum(sparse.stepMs), byKind,
};
const result = {
  ...summary, speedup: summary.denseRunMs / summary.prunedRunMs, kinds, denseSteps: dense.stepMs, prunedSteps: sparse.stepMs,
};
console.log(`${preset} ${quant} on ${dense.device}: 30-step run ${result.denseRunMs.toFixed(0)} ms dense, ` +
  `${result.prunedRunMs.toFixed(0)} ms with ${schedule.name} (${result.speedup.toFixed(2)}×); per step: dense ` +
  `${result.denseStepMs.toFixed(1)}, ${Object.entries(byKind).map(([k, v]) => `${k} ${v.medianMs.toFixed(1)} (×${v.steps})`).join(', ')}`);
if (out) {
  writeFileSync(`${out}.tmp`, JSON.stringify(result, null, 1));
  renameSync(`${out}.tmp`, out);
}
