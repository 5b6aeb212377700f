import { carryPairs, CARRY_PREFIX } from '../ir/carry.ts';
import type { Graph } from '../ir/graph.ts';

/*
 * The carried state of a denoiser loop (ir/carry.ts): zeros before the first forward, then each forward's carry
 * outputs become the next forward's carry inputs. A graph without carry inputs has an empty state. The values are
 * copied out of the outputs, so a backend may reuse its output buffers. compiler/compile/emit-run.ts inlines
 * CarryState and manifestCarry into a compiled folder's run.js: they use nothing but CARRY_PREFIX.
 */

/** One carried value: its input's name and size, and the output that holds its next value. */
export interface CarrySlot {
  readonly name: string;
  readonly size: number;
  readonly output: number;
}

export class CarryState {
  private values: Float32Array[];

  constructor(readonly slots: readonly CarrySlot[]) {
    this.values = slots.map((s) => new Float32Array(s.size));
  }

  /** The carry inputs of the next forward, by name. */
  inputs(): Record<string, Float32Array> {
    return Object.fromEntries(this.slots.map((s, i) => [s.name, this.values[i]!]));
  }

  /** Takes the next values from a forward's outputs (all of them, the model's own first). */
  update(outputs: readonly ArrayLike<number>[]): void {
    this.values = this.slots.map((s) => {
      const o = outputs[s.output];
      if (!o || o.length !== s.size) {
        throw new Error(`carry ${s.name}: output ${s.output} holds ${o?.length ?? 'no'} values, expected ${s.size}`);
      }
      return Float32Array.from(o);
    });
  }
}

/** A graph's carried state. */
export function graphCarry(g: Graph): CarryState {
  return new CarryState(carryPairs(g).map(({ input, output }) =>
    ({ name: String(input.attrs['name']), size: input.type.shape.reduce((a, b) => a * b, 1), output })));
}

/** A compiled folder's carried state, from its manifest's inputs and output count (the same convention). */
export function manifestCarry(
  inputs: readonly { readonly name: string; readonly shape: readonly number[] }[], outputs: number,
): CarryState {
  const carried = inputs.filter((t) => t.name.startsWith(CARRY_PREFIX));
  const first = outputs - carried.length;
  if (carried.length && first < 1) throw new Error(`${carried.length} carry inputs but ${outputs} outputs`);
  return new CarryState(carried.map((t, i) => ({ name: t.name, size: t.shape.reduce((a, b) => a * b, 1), output: first + i })));
}
