import { scheduleRow } from '../ir/infer-sparse-attention.ts';
import { DEFAULT_STEPS, flowTimestep } from '../runtime/sampler.ts';

/*
 * The timestep schedule of `--prune schedule=F1/F2/…`: R ranges of (nearly) equal step counts in sampling order
 * (noisiest first), split by R − 1 descending bounds halfway between the timesteps of the steps either side of each
 * range edge, so a sampler with another step count still splits by noise level. A forward at timestep t lies in
 * range scheduleRow(t, bounds) (ir/infer-sparse-attention.ts), the row the scheduled ops read.
 */

/** R + 1 step edges of R equal ranges over `steps`: range r holds steps edges[r] .. edges[r + 1] − 1. */
export function scheduleEdges(ranges: number, steps: number): number[] {
  return Array.from({ length: ranges + 1 }, (_, r) => Math.round((r * steps) / ranges));
}

/** The bounds between the ranges of `edges`: halfway between the timesteps of the steps either side of each. */
export function edgeBounds(edges: readonly number[], tOf: (step: number) => number): number[] {
  return edges.slice(1, -1).map((e) => (tOf(e - 1) + tOf(e)) / 2);
}

/**
 * The bounds of `ranges` equal ranges over the Euler sampler's `steps` timesteps (runtime/sampler.ts): the
 * schedule `scheduleFromStore` derives from a store of that sampler, without one (online selection needs none).
 */
export function samplerBounds(ranges: number, steps = DEFAULT_STEPS): number[] {
  if (!(Number.isInteger(ranges) && ranges >= 1 && ranges <= steps)) {
    throw new Error(`prune-tokens: a schedule of ${ranges} ranges needs 1..${steps} (the sampler's steps)`);
  }
  return edgeBounds(scheduleEdges(ranges, steps), (i) => flowTimestep(i, steps));
}

/** How many of a `steps`-step sampler run's forwards fall in each of the R ranges `bounds` splits. */
export function rangeSteps(bounds: readonly number[], steps = DEFAULT_STEPS): number[] {
  const n = new Array<number>(bounds.length + 1).fill(0);
  for (let i = 0; i < steps; i++) n[scheduleRow(flowTimestep(i, steps), bounds)]! += 1;
  return n;
}
