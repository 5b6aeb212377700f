import { carryPairs, CARRY_PREFIX } from '../ir/carry.ts';
import type { Graph } from '../ir/graph.ts';

/*
 * The carried state of a denoiser loop (ir/carry.ts): zeros before the first forward, then each forward's carry
 * outputs become the next forward's carry inputs. A graph without carry inputs has an empty state. Here the state
 * is held on the host (the CPU reference; explicit runs): the values are copied out of the outputs, so a backend
 * may reuse its output buffers. The GPU denoisers keep it on the device instead (CudaRunner.step, WgslExecutor.step,
 * a compiled folder's step), by the same convention. compiler/compile/emit-run.ts inlines
 * CarryState, carryArray, carryingDenoiser and manifestCarry into a compiled folder's run.js: they use nothing but CARRY_PREFIX.
 */

/** One carried value: its input's name, dtype and size, and the output that holds its next value. */
export interface CarrySlot {
  readonly name: string;
  /** i32 values (tile lists) are held as Int32Array, the rest as Float32Array */
  readonly dtype: string;
  readonly size: number;
  readonly output: number;
}

/** A carried value's array: its input's own type. */
const carryArray = (s: CarrySlot, from?: ArrayLike<number>): Float32Array | Int32Array =>
  s.dtype === 'i32' ? (from ? Int32Array.from(from) : new Int32Array(s.size))
    : (from ? Float32Array.from(from) : new Float32Array(s.size));

export class CarryState {
  private values: (Float32Array | Int32Array)[];

  constructor(readonly slots: readonly CarrySlot[]) {
    this.values = slots.map((s) => carryArray(s));
  }

  /** The carry inputs of the next forward, by name. */
  inputs(): Record<string, Float32Array | Int32Array> {
    return Object.fromEntries(this.slots.map((s, i) => [s.name, this.values[i]!]));
  }

  /** Takes the next values from a forward's outputs (all of them, the model's own first). */
  update(outputs: readonly ArrayLike<number>[]): void {
    this.values = this.slots.map((s) => {
      const o = outputs[s.output];
      if (!o || o.length !== s.size) {
        throw new Error(`carry ${s.name}: output ${s.output} holds ${o?.length ?? 'no'} values, expected ${s.size}`);
      }
      return carryArray(s, o);
    });
  }
}

/**
 * A forward over named inputs (x, t, y and the carries) as an x/t/y denoiser: each call gets the carries the call
 * before left, and the velocity (the first output) comes back.
 */
export function carryingDenoiser<T extends ArrayLike<number>>(
  carry: CarryState, forward: (inputs: Record<string, ArrayLike<number>>) => Promise<readonly T[]>,
): (x: Float32Array, t: Float32Array, y: Int32Array) => Promise<T> {
  return async (x, t, y) => {
    const outs = await forward({ x, t, y, ...carry.inputs() });
    carry.update(outs);
    return outs[0]!;
  };
}

/** A graph's carried state (its carries checked against their outputs first). */
export function graphCarry(g: Graph): CarryState {
  carryPairs(g);
  return manifestCarry(g.inputs.map((n) => ({ name: String(n.attrs['name']), dtype: n.type.dtype, shape: n.type.shape })),
    g.outputs.length);
}

/** A compiled folder's carried state, from its manifest's inputs and output count (the same convention). */
export function manifestCarry(
  inputs: readonly { readonly name: string; readonly dtype: string; readonly shape: readonly number[] }[], outputs: number,
): CarryState {
  const carried = inputs.filter((t) => t.name.startsWith(CARRY_PREFIX));
  const first = outputs - carried.length;
  if (carried.length && first < 1) throw new Error(`${carried.length} carry inputs but ${outputs} outputs`);
  return new CarryState(carried.map((t, i) =>
    ({ name: t.name, dtype: t.dtype, size: t.shape.reduce((a, b) => a * b, 1), output: first + i })));
}
