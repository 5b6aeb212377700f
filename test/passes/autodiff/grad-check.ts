import { expect } from 'vitest';
import { mulberry32 } from '../../../compiler/data/prng.ts';
import type { Weights } from '../../../compiler/weights/weights.ts';
import {
  graph, node, numel, params, parse, print, verify, type Graph, type Node, type TensorType,
} from '../../../ir/index.ts';
import { grad } from '../../../passes/autodiff/grad.ts';
import { runReference } from '../../../runtime/reference.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';

export type Range = readonly [number, number];

export function weightsOf(m: Readonly<Record<string, Tensor>>): Weights {
  return { get: (k) => m[k], names: () => Object.keys(m) };
}

/** Fresh seeded data: floats uniform in [lo, hi) (never exactly 0 in practice), bools 0/1, i32 in [0, hi). */
export function randomFor(t: TensorType, r: () => number, [lo, hi]: Range = [-1.5, 1.5]): Tensor {
  const n = numel(t.shape);
  if (t.dtype === 'bool') return tensor(t, Uint8Array.from({ length: n }, () => (r() < 0.7 ? 1 : 0)));
  if (t.dtype === 'i32') return tensor(t, Int32Array.from({ length: n }, () => Math.floor(r() * hi)));
  return tensor(t, Float32Array.from({ length: n }, () => lo + r() * (hi - lo)));
}

export interface Data {
  readonly inputs: Record<string, Tensor>;
  readonly params: Record<string, Tensor>;
}

/** Random data for every input and param of g; `ranges` overrides the range per leaf name. */
export function randomData(g: Graph, seed: number, ranges: Readonly<Record<string, Range>> = {}): Data {
  const r = mulberry32(seed >>> 0).next;
  const inputs: Record<string, Tensor> = {};
  const ps: Record<string, Tensor> = {};
  for (const i of g.inputs) inputs[i.attrs['name'] as string] = randomFor(i.type, r, ranges[i.attrs['name'] as string]);
  for (const p of params(g)) ps[p.attrs['name'] as string] = randomFor(p.type, r, ranges[p.attrs['name'] as string]);
  return { inputs, params: ps };
}

/** loss = Σ y ⊙ proj, with proj a fresh random input: its gradient is the VJP of y for the cotangent proj. */
export function projected(fn: Graph): Graph {
  const y = fn.outputs[0]!;
  const proj = node('input', [], { name: 'proj' }, y.type);
  const prod = node('mul', [y, proj]);
  const rank = y.type.shape.length;
  const loss = rank ? node('reduce_sum', [prod], { axes: [...Array(rank).keys()], keepdims: false }) : prod;
  return graph(`${fn.name}_loss`, [...fn.inputs, proj], [loss]);
}

/** Prints, parses and prints again: the text form is stable for gradient graphs too. */
export function expectRoundTrip(g: Graph): void {
  const text = print(g);
  const back = parse(text);
  verify(back);
  expect(print(back)).toBe(text);
}

export interface FdOptions {
  readonly wrt: readonly string[];
  readonly seed: number;
  readonly ranges?: Readonly<Record<string, Range>>;
  /** perturbation; default 1e-3 */
  readonly eps?: number;
  /** elements checked per wrt tensor; default 10 */
  readonly samples?: number;
  readonly rtol?: number;
  readonly atol?: number;
  /** the graph to differentiate instead of fn (same inputs): lets a test show that a wrong gradient is caught */
  readonly differentiate?: Graph;
}

function leafTensor(d: Data, name: string): Tensor {
  const t = d.inputs[name] ?? d.params[name];
  if (!t) throw new Error(`no data for '${name}'`);
  return t;
}

function withValue(d: Data, name: string, i: number, v: number): Data {
  const isInput = name in d.inputs;
  const t = leafTensor(d, name);
  const data = Float32Array.from(t.data as Float32Array);
  data[i] = v;
  const nt = tensor(t.type, data);
  return isInput ? { ...d, inputs: { ...d.inputs, [name]: nt } } : { ...d, params: { ...d.params, [name]: nt } };
}

/**
 * Σ (y − y0)·proj for the data given, summed here in f64: the reference's f32 output rounding then costs ~1e-7 of
 * a small number instead of the whole output (y0 is the f32-rounded base output; it cancels in a difference).
 */
function probeObjective(fn: Graph, d: Data, proj: ArrayLike<number>): (x: Data) => number {
  const base = runReference(fn, d.inputs, weightsOf(d.params), { f64: true })[0]!;
  const y0 = node('input', [], { name: 'y0' }, fn.outputs[0]!.type);
  const probe = graph(`${fn.name}_probe`, [...fn.inputs, y0], [node('sub', [fn.outputs[0]!, y0])]);
  return (x) => {
    const y = runReference(probe, { ...x.inputs, y0: base }, weightsOf(x.params), { f64: true })[0]!.data;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += Number(y[i]) * proj[i]!;
    return s;
  };
}

/**
 * Checks grad(projected(fn)) against central finite differences of Σ y·proj, both on the f64 reference, with the
 * actual (f32-rounded) step of the perturbed element. Returns the gradient graph (verified and print/parse
 * round-tripped) and the worst absolute error seen.
 */
export function checkGradFD(fn: Graph, o: FdOptions): { gradGraph: Graph; worst: number } {
  const lossGraph = projected(fn);
  const gg = grad(o.differentiate ? projected(o.differentiate) : lossGraph, { wrt: o.wrt });
  verify(gg);
  expectRoundTrip(gg);
  const d = randomData(lossGraph, o.seed, o.ranges);
  const analytic = runReference(gg, d.inputs, weightsOf(d.params), { f64: true });
  const { proj, ...fnInputs } = d.inputs;
  const fnData: Data = { inputs: fnInputs, params: d.params };
  const objective = probeObjective(fn, fnData, proj!.data);
  const [eps, rtol, atol, k] = [o.eps ?? 1e-3, o.rtol ?? 1e-3, o.atol ?? 1e-4, o.samples ?? 10];
  const r = mulberry32((o.seed ^ 0x5bd1e995) >>> 0).next;
  let worst = 0;
  o.wrt.forEach((name, w) => {
    const n = leafTensor(fnData, name).data.length;
    const picks = n <= k ? [...Array(n).keys()] : Array.from({ length: k }, () => Math.floor(r() * n));
    for (const i of picks) {
      const x0 = Number(leafTensor(fnData, name).data[i]);
      const [hi, lo] = [Math.fround(x0 + eps), Math.fround(x0 - eps)];
      const fd = (objective(withValue(fnData, name, i, hi)) - objective(withValue(fnData, name, i, lo))) / (hi - lo);
      const got = Number(analytic[w + 1]!.data[i]);
      worst = Math.max(worst, Math.abs(got - fd));
      if (!(Math.abs(got - fd) - rtol * Math.abs(fd) <= atol)) {
        throw new Error(`d/d${name}[${i}]: autodiff ${got}, finite differences ${fd}`);
      }
    }
  });
  return { gradGraph: gg, worst };
}

export function leafNames(g: Graph): string[] {
  return [...g.inputs, ...params(g)].filter((n: Node) => n.type.dtype === 'f32').map((n) => n.attrs['name'] as string);
}
