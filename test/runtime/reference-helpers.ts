import { expect } from 'vitest';
import { graph, tensorType, toposort, type DType, type Node } from '../../ir/index.ts';
import { node } from '../../ir/node.ts';
import { randomTensor } from '../../compiler/weights/init.ts';
import type { Weights } from '../../compiler/weights/weights.ts';
import { runReference, type ReferenceOptions } from '../../runtime/reference.ts';
import type { Tensor } from '../../runtime/tensor.ts';

export function inp(name: string, dtype: DType, shape: number[]): Node {
  return node('input', [], { name }, tensorType(dtype, shape));
}

export function par(name: string, dtype: DType, shape: number[]): Node {
  return node('param', [], { name }, tensorType(dtype, shape));
}

export function rand(dtype: DType, shape: number[], seed: number, max?: number): Tensor {
  return randomTensor(tensorType(dtype, shape), seed, max);
}

export function mapWeights(w: Record<string, Tensor>): Weights {
  return { get: (n) => w[n], names: () => Object.keys(w) };
}

/** Runs the single-output graph ending in `out`; its inputs are the input nodes it reaches. */
export function run1(
  out: Node, inputs: Record<string, Tensor>, params: Record<string, Tensor> = {}, opts: ReferenceOptions = {},
): Tensor {
  const ins = toposort(graph('t', [], [out])).filter((n) => n.op === 'input');
  return runReference(graph('t', ins, [out]), inputs, mapWeights(params), opts)[0]!;
}

/** |got − want| ≤ atol + rtol·|want| elementwise; NaN must match NaN. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol = 0): void {
  expect(got.length).toBe(want.length);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (!(Number.isNaN(w) && Number.isNaN(g))) expect.fail(`element ${i}: got ${g}, want ${w}`);
      continue;
    }
    const err = Math.abs(g - w) - rtol * Math.abs(w);
    if (err > worstErr) [worst, worstErr] = [i, err];
  }
  if (worstErr > atol) {
    expect.fail(`element ${worst}: got ${got[worst]}, want ${want[worst]} (excess ${worstErr} > ${atol})`);
  }
}

/** Row-major unravel of a linear index. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = i % shape[k]!;
    i = Math.floor(i / shape[k]!);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  return idx.reduce((acc, x, k) => acc * shape[k]! + x, 0);
}
