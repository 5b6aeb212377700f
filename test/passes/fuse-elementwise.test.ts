import { mulberry32 } from '../../compiler/data/prng.ts';
import { describe, expect, it } from 'vitest';
import { graph, node, parse, print, tensorType, toposort, type Graph } from '../../ir/index.ts';
import { canonicalize, fuseElementwise } from '../../passes/index.ts';
import { runReference } from '../../runtime/reference.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { expectPass, ir, runPass } from './expect-pass.ts';

describe('fuse-elementwise', () => {
  it('fuses a single-use chain into one kernel with scalar consts as literals', () => {
    const stats = expectPass(
      fuseElementwise,
      `
      graph g(%x: f32[2,4], %y: f32[4]) {
        %0: f32[] = const{value=0.5}()
        %1: f32[2,4] = add(%x, %y)
        %2: f32[2,4] = mul(%1, %0)
        %3: f32[2,4] = silu(%2)
        %4: f32[2,1] = reduce_sum{axes=[1], keepdims=true}(%3)
        return %4
      }`,
      `
      graph g(%x: f32[2,4], %y: f32[4]) {
        %0: f32[2,4] = fused{expr="silu(mul(add($0, $1), 0.5))"}(%x, %y)
        %1: f32[2,1] = reduce_sum{axes=[1], keepdims=true}(%0)
        return %1
      }`,
    );
    expect(stats.get('fuse-elementwise.kernels')).toBe(1);
    expect(stats.get('fuse-elementwise.ops')).toBe(3);
  });

  it('keeps a producer with several uses, or that is an output, as its own kernel', () => {
    const stats = expectPass(
      fuseElementwise,
      `
      graph g(%x: f32[4]) {
        %0: f32[4] = exp(%x)
        %1: f32[4] = mul(%0, %0)
        %2: f32[4] = neg(%x)
        %3: f32[4] = abs(%2)
        return %1, %2, %3
      }`,
      `
      graph g(%x: f32[4]) {
        %0: f32[4] = fused{expr="exp($0)"}(%x)
        %1: f32[4] = fused{expr="mul($0, $0)"}(%0)
        %2: f32[4] = fused{expr="neg($0)"}(%x)
        %3: f32[4] = fused{expr="abs($0)"}(%2)
        return %1, %2, %3
      }`,
    );
    expect(stats.get('fuse-elementwise.kernels')).toBe(4);
  });

  it('does not fuse across non-elementwise ops and dedupes repeated operands', () => {
    expectPass(
      fuseElementwise,
      `
      graph g(%x: f32[2,4]) {
        %0: f32[2,4] = tanh(%x)
        %1: f32[2,4] = softmax{axis=-1}(%0)
        %2: f32[2,4] = sub(%1, %x)
        %3: f32[2,4] = add(%2, %x)
        return %3
      }`,
      `
      graph g(%x: f32[2,4]) {
        %0: f32[2,4] = fused{expr="tanh($0)"}(%x)
        %1: f32[2,4] = softmax{axis=-1}(%0)
        %2: f32[2,4] = fused{expr="add(sub($0, $1), $1)"}(%1, %x)
        return %2
      }`,
    );
  });

  it('sets dtype when the first operand has another dtype, and keeps shape-carrying consts as operands', () => {
    expectPass(
      fuseElementwise,
      `
      graph g(%c: bool[4], %x: f32[4]) {
        %0: f32[3,4] = const{value=2}()
        %1: f32[3,4] = mul(%x, %0)
        %2: f32[3,4] = where(%c, %1, %x)
        return %2
      }`,
      `
      graph g(%c: bool[4], %x: f32[4]) {
        %0: f32[3,4] = const{value=2}()
        %1: f32[3,4] = fused{dtype="f32", expr="where($0, mul($1, $2), $1)"}(%c, %x, %0)
        return %1
      }`,
    );
  });

  it('inlines existing fused nodes and respects min-ops', () => {
    const before = `
      graph g(%x: f32[4], %y: f32[4]) {
        %0: f32[4] = fused{expr="mul($1, $0)"}(%x, %y)
        %1: f32[4] = sigmoid(%0)
        %2: f32[1] = reduce_max{axes=[0], keepdims=true}(%1)
        %3: f32[4] = cos(%x)
        return %2, %3
      }`;
    expectPass(
      fuseElementwise,
      before,
      `
      graph g(%x: f32[4], %y: f32[4]) {
        %0: f32[4] = fused{expr="sigmoid(mul($1, $0))"}(%x, %y)
        %1: f32[1] = reduce_max{axes=[0], keepdims=true}(%0)
        %2: f32[4] = fused{expr="cos($0)"}(%x)
        return %1, %2
      }`,
    );
    const stats = expectPass(
      fuseElementwise,
      before,
      `
      graph g(%x: f32[4], %y: f32[4]) {
        %0: f32[4] = fused{expr="sigmoid(mul($1, $0))"}(%x, %y)
        %1: f32[1] = reduce_max{axes=[0], keepdims=true}(%0)
        %2: f32[4] = cos(%x)
        return %1, %2
      }`,
      { 'min-ops': 2 },
    );
    expect(stats.get('fuse-elementwise.ops')).toBe(2);
  });

  it('is idempotent: a second run returns the same graph object', () => {
    const g = parse(ir(`
      graph g(%x: f32[4]) {
        %0: f32[4] = exp(%x)
        %1: f32[4] = add(%0, %0)
        %2: f32[4] = relu(%1)
        return %2
      }`));
    const once = runPass(fuseElementwise, g).graph;
    expect(once).not.toBe(g);
    expect(runPass(fuseElementwise, once).graph).toBe(once);
    expect(() => runPass(fuseElementwise, g, { 'min-ops': 'two' })).toThrow(/min-ops must be a number/);
  });

  it('computes the same values as the unfused graph (reference interpreter, seeded inputs)', () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [3, 5]));
    const b = node('input', [], { name: 'b' }, tensorType('f32', [5]));
    const c = node('input', [], { name: 'c' }, tensorType('bool', [3, 1]));
    const half = node('const', [], { value: 0.5 }, tensorType('f32', []));
    const h = node('gelu', [node('add', [x, b])], { approx: 'tanh' });
    const s = node('reduce_mean', [h], { axes: [1], keepdims: true });
    const z = node('where', [c, node('sub', [h, s]), node('mul', [node('exp', [b]), half])]);
    const g = graph('g', [x, b, c], [node('sigmoid', [z]), s]);
    const fused = runPass(fuseElementwise, runPass(canonicalize, g).graph).graph;
    expect(toposort(fused).filter((n) => n.op === 'fused')).toHaveLength(2);
    expect(print(fused)).not.toMatch(/= (gelu|add|sub|mul|exp|where|sigmoid)\(/);
    const inputs = seeded(g, 7);
    const want = runReference(g, inputs, NO_WEIGHTS);
    const got = runReference(fused, inputs, NO_WEIGHTS);
    want.forEach((w, i) => expectClose(got[i]!, w, 1e-6));
  });
});

const NO_WEIGHTS = { get: () => undefined, names: () => [] };

const rng = (seed: number): (() => number) => mulberry32(seed >>> 0).next;

function seeded(g: Graph, seed: number): Record<string, Tensor> {
  const r = rng(seed);
  const out: Record<string, Tensor> = {};
  for (const i of g.inputs) {
    const n = i.type.shape.reduce((a, d) => a * d, 1);
    const name = i.attrs['name'] as string;
    out[name] = i.type.dtype === 'bool'
      ? tensor(i.type, Uint8Array.from({ length: n }, (_, k) => (k % 2 === 0 ? 1 : 0) ^ (r() < 0.2 ? 1 : 0)))
      : tensor(i.type, Float32Array.from({ length: n }, () => 4 * r() - 2));
  }
  return out;
}

// f32 oracle stores every op's result in f32; a fused kernel rounds once: agreement to a few ulps
function expectClose(got: Tensor, want: Tensor, rel: number): void {
  expect(got.type).toEqual(want.type);
  const w = want.data;
  got.data.forEach((v, i) => expect(Math.abs(v - w[i]!)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(w[i]!))));
}
