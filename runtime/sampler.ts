import type { Graph } from '../ir/graph.ts';
import { carryInputs, carryPairs } from '../ir/carry.ts';
import { attr } from '../ir/node.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { carryingDenoiser, graphCarry } from './carry.ts';
import type { CudaRunner } from './cuda-runner.ts';
import type { WgslExecutor } from './executor.ts';
import { runReference } from './reference.ts';
import { tensor, type Tensor, type TensorData } from './tensor.ts';

/**
 * Euler sampler for rectified flow (SD3, Wan): x_t = (1 − t)·x_0 + t·ε and the model predicts v = ε − x_0.
 * Integration runs from t = 1 (pure noise) to t = 0 over `steps` uniform steps t_i = 1 − i/steps:
 *   x ← x + (t_{i+1} − t_i) · v̂,   v̂ = v_uncond + s · (v_cond − v_uncond)    (classifier-free guidance, scale s)
 * Batch layout of one forward with K clips: [cond_1 … cond_K, uncond_1 … uncond_K] (batch 2K), the uncond
 * half carrying the null class. Every clip's result depends only on its own noise and class, never on its batch mates.
 * A graph with carried state (ir/carry.ts) gets it from the previous forward of its denoiser (runtime/carry.ts).
 */

/** The step count of `vdit generate` / `vdit eval` and run.js unless told otherwise. */
export const DEFAULT_STEPS = 30;

/** The timestep of Euler step i of `steps`: 1 at the first step, 1/steps at the last. */
export const flowTimestep = (i: number, steps: number): number => 1 - i / steps;

/** One batched model call: x [2K, …clip], t [2K], y [2K] → velocity [2K, …clip]. */
export type Denoiser = (x: Float32Array, t: Float32Array, y: Int32Array) => Promise<Float32Array>;

export interface SampleOptions {
  readonly steps: number;
  /** guidance scale s: 0 = unconditional, 1 = conditional only */
  readonly cfg: number;
  /** class id of the uncond half */
  readonly nullClass: number;
  /** called after each step with (done, total, milliseconds of that step) */
  readonly onStep?: (step: number, steps: number, ms: number) => void;
}

/** K noise tensors + K classes → K clips, clipped to [−1, 1]. */
export async function sampleFlow(
  denoise: Denoiser, noise: readonly Float32Array[], classes: readonly number[], opts: SampleOptions,
): Promise<Float32Array[]> {
  checkSampleArgs(noise, classes, opts);
  const k = noise.length;
  const size = noise[0]!.length;
  const x = new Float32Array(2 * k * size);
  noise.forEach((n, i) => x.set(n, i * size));
  const y = Int32Array.from({ length: 2 * k }, (_, i) => (i < k ? classes[i]! : opts.nullClass));
  for (let i = 0; i < opts.steps; i++) {
    const t0 = performance.now();
    const t = flowTimestep(i, opts.steps);
    const tNext = flowTimestep(i + 1, opts.steps);
    x.copyWithin(k * size, 0, k * size);
    const v = await denoise(x, new Float32Array(2 * k).fill(t), y);
    if (v.length !== x.length) throw new Error(`denoiser returned ${v.length} values, expected ${x.length}`);
    eulerStep(x, v, k * size, tNext - t, opts.cfg);
    opts.onStep?.(i + 1, opts.steps, performance.now() - t0);
  }
  return noise.map((_, i) => clipUnit(x.subarray(i * size, (i + 1) * size)));
}

// updates the cond half in place; the uncond half is refreshed from it before the next forward
function eulerStep(x: Float32Array, v: Float32Array, half: number, dt: number, s: number): void {
  for (let j = 0; j < half; j++) {
    const vu = v[half + j]!;
    x[j] = x[j]! + dt * (vu + s * (v[j]! - vu));
  }
}

function clipUnit(a: Float32Array): Float32Array {
  return Float32Array.from(a, (v) => (v < -1 ? -1 : v > 1 ? 1 : v));
}

function checkSampleArgs(noise: readonly Float32Array[], classes: readonly number[], opts: SampleOptions): void {
  if (noise.length === 0) throw new Error('sampleFlow: no clips to generate');
  if (classes.length !== noise.length) {
    throw new Error(`sampleFlow: ${noise.length} noise tensors but ${classes.length} classes`);
  }
  if (noise.some((n) => n.length !== noise[0]!.length)) throw new Error('sampleFlow: noise tensors differ in size');
  if (!(Number.isInteger(opts.steps) && opts.steps >= 1)) {
    throw new Error(`sampleFlow: steps must be a positive integer, got ${opts.steps}`);
  }
  if (!Number.isFinite(opts.cfg)) throw new Error(`sampleFlow: cfg must be finite, got ${opts.cfg}`);
}

/**
 * Named inputs (x, t, y, and the carries unless `withCarries` is false) as tensors of the graph's input types;
 * checks they are all it takes.
 */
function denoiserInputs(
  g: Graph, given: Readonly<Record<string, ArrayLike<number>>>, withCarries = true,
): Record<string, Tensor> {
  const carried = new Set(withCarries ? [] : carryInputs(g));
  const byName = new Map(g.inputs.filter((n) => !carried.has(n)).map((n) => [attr<string>(n, 'name'), n]));
  const out: Record<string, Tensor> = {};
  for (const [name, data] of Object.entries(given)) {
    const leaf = byName.get(name);
    if (!leaf) throw new Error(`graph '${g.name}' has no input '${name}': not a class-conditioned denoiser`);
    out[name] = tensor(leaf.type, data as TensorData);
  }
  if (byName.size !== Object.keys(given).length) {
    throw new Error(`graph '${g.name}' takes inputs ${[...byName.keys()].join(', ')}; want x, t, y (and carry.*)`);
  }
  return out;
}

/** A graph's forward on named tensors as a denoiser: x/t/y in, the velocity out, the carried state kept between. */
function graphDenoiser(g: Graph, forward: (inputs: Record<string, Tensor>) => Promise<readonly Tensor[]>): Denoiser {
  const denoise = carryingDenoiser(graphCarry(g), async (given) =>
    (await forward(denoiserInputs(g, given))).map((o) => o.data));
  return async (x, t, y) => (await denoise(x, t, y)) as Float32Array;
}

/** The CPU reference interpreter as a denoiser. */
export function cpuDenoiser(model: { readonly graph: Graph; readonly weights: Weights }): Denoiser {
  return graphDenoiser(model.graph, async (inputs) => runReference(model.graph, inputs, model.weights));
}

/** A WGSL executor (built for a batch-2K graph) as a denoiser; carried state stays on the device (exec.step). */
export function wgslDenoiser(exec: WgslExecutor): Denoiser {
  const g = exec.program.graph;
  if (!carryInputs(g).length) return graphDenoiser(g, async (inputs) => (await exec.run(inputs)).outputs);
  return deviceCarryDenoiser(g, async (inputs) => (await exec.step(inputs)).outputs);
}

/**
 * A CUDA runner (runtime/cuda-runner.ts, built for a batch-2K graph) as a denoiser; carried state stays on the
 * device (runner.step), so a forward moves only x, t, y and the velocity over the pipes.
 */
export function cudaDenoiser(runner: CudaRunner): Denoiser {
  const g = runner.graph;
  if (!carryInputs(g).length) return graphDenoiser(g, (inputs) => runner.forward(inputs));
  return deviceCarryDenoiser(g, (inputs) => runner.step(inputs));
}

/** A forward whose carried state stays on its device as a denoiser: x, t, y in, the velocity out. */
function deviceCarryDenoiser(g: Graph, step: (inputs: Record<string, Tensor>) => Promise<readonly Tensor[]>): Denoiser {
  carryPairs(g);
  return async (x, t, y) => (await step(denoiserInputs(g, { x, t, y }, false)))[0]!.data as Float32Array;
}

/** Clips per forward (K) of a denoiser graph: half its batch. */
export function clipsPerForward(g: Graph): number {
  const x = g.inputs.find((n) => n.attrs['name'] === 'x');
  const b = x?.type.shape[0];
  if (b === undefined || b % 2) throw new Error(`graph '${g.name}': input x needs an even batch (cond + uncond)`);
  return b / 2;
}
