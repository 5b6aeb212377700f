import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../ir/builder.ts';
import { node, type Node } from '../../../ir/index.ts';
import { checkGradFD, leafNames, type Range } from './grad-check.ts';

/**
 * One finite-difference check per VJP rule: y = op(...) over fresh seeded random inputs in [-1.5, 1.5) (positive
 * ranges where the op needs them), loss = Σ y·proj with a random proj. Central differences with eps = 1e-3 on the
 * f64 reference; tolerance |autodiff − fd| ≤ 1e-4 + 1e-3·|fd| (the f64 truncation error is O(eps²) ≈ 1e-6).
 */
interface Case {
  readonly name: string;
  readonly build: (b: GraphBuilder) => Node;
  readonly ranges?: Readonly<Record<string, Range>>;
  /** default: every f32 input and param */
  readonly wrt?: readonly string[];
  /** overrides for cases whose forward rounds (f16): a wider step and a looser tolerance */
  readonly fd?: { readonly eps: number; readonly rtol: number };
}

const POS: Range = [0.3, 2];
const un = (op: string, ranges?: Record<string, Range>): Case => ({
  name: op, build: (b) => b.op(op as 'exp', [b.input('x', [3, 5])]), ...(ranges ? { ranges } : {}),
});
// operand shapes broadcast both ways, so the cotangents must be summed back over the broadcast axes
const bin = (op: string, ranges?: Record<string, Range>): Case => ({
  name: `${op} (broadcast)`,
  build: (b) => b.op(op as 'add', [b.input('a', [2, 1, 4]), b.input('c', [3, 1])]),
  ...(ranges ? { ranges } : {}),
});

const ELEMENTWISE: Case[] = [
  un('neg'), un('abs'), un('exp'), un('log', { x: POS }), un('sqrt', { x: POS }), un('rsqrt', { x: POS }),
  un('recip', { x: POS }), un('square'), un('tanh'), un('sigmoid'), un('relu'), un('silu'), un('sin'), un('cos'),
  { name: 'gelu erf', build: (b) => b.gelu(b.input('x', [4, 6]), 'none'), ranges: { x: [-3, 3] } },
  { name: 'gelu tanh', build: (b) => b.gelu(b.input('x', [4, 6]), 'tanh'), ranges: { x: [-3, 3] } },
  bin('add'), bin('sub'), bin('mul'), bin('div', { c: POS }), bin('max'), bin('min'),
  bin('pow', { a: POS, c: [-1, 2] }),
  { name: 'mul of a node by itself', build: (b) => { const x = b.input('x', [7]); return b.mul(x, x); } },
  {
    name: 'where (bool mask, broadcast branches)',
    build: (b) => b.op('where', [b.input('m', [2, 3], 'bool'), b.input('a', [2, 3]), b.input('c', [3])]),
  },
  {
    // f16 steps are 2^-10 near 1, so the difference quotient uses eps = 0.05 and rtol 3e-2
    name: 'cast f32 → f16 → f32 (float casts pass the cotangent back)',
    build: (b) => b.op('cast', [b.op('cast', [b.input('x', [6])], { to: 'f16' })], { to: 'f32' }),
    fd: { eps: 0.05, rtol: 3e-2 },
  },
];

const NN: Case[] = [
  { name: 'reduce_sum axes [0,2]', build: (b) => b.op('reduce_sum', [b.input('x', [2, 3, 4])], { axes: [0, 2] }) },
  {
    name: 'reduce_mean keepdims axis -1',
    build: (b) => b.op('reduce_mean', [b.input('x', [2, 3, 4])], { axes: [-1], keepdims: true }),
  },
  { name: 'reduce_max axis 1', build: (b) => b.op('reduce_max', [b.input('x', [2, 5, 3])], { axes: [1] }) },
  {
    name: 'matmul batched with broadcast',
    build: (b) => b.op('matmul', [b.input('a', [2, 3, 4]), b.input('c', [4, 5])]),
  },
  { name: 'linear (x, w, b)', build: (b) => b.linear(b.input('x', [2, 3, 4]), 'fc', 5) },
  { name: 'linear without bias', build: (b) => b.linear(b.input('x', [3, 4]), 'fc', 2, { bias: false }) },
  { name: 'layernorm', build: (b) => b.layerNorm(b.input('x', [2, 3, 6])) },
  { name: 'layernorm affine', build: (b) => b.layerNorm(b.input('x', [3, 6]), 'ln', { affine: true }) },
  { name: 'rmsnorm affine', build: (b) => b.rmsNorm(b.input('x', [2, 3, 6]), 'rn', { affine: true }) },
  { name: 'rmsnorm', build: (b) => b.rmsNorm(b.input('x', [4, 5])) },
  { name: 'softmax axis 1', build: (b) => b.op('softmax', [b.input('x', [2, 4, 3])], { axis: 1 }) },
  {
    name: 'attention',
    build: (b) => b.attention(b.input('q', [1, 2, 3, 4]), b.input('k', [1, 2, 5, 4]), b.input('v', [1, 2, 5, 3])),
  },
  {
    name: 'attention with a bool mask',
    build: (b) => b.attention(b.input('q', [1, 2, 3, 4]), b.input('k', [1, 2, 5, 4]), b.input('v', [1, 2, 5, 3]),
      { mask: b.input('m', [1, 1, 3, 5], 'bool') }),
    ranges: { m: [0, 1] },
  },
  {
    name: 'attention with an additive float mask (gradient to the mask too)',
    build: (b) => b.attention(b.input('q', [2, 1, 3, 4]), b.input('k', [2, 1, 4, 4]), b.input('v', [2, 1, 4, 2]),
      { mask: b.input('m', [1, 1, 3, 4]) }),
  },
];

const SHAPE_VDIT: Case[] = [
  { name: 'reshape', build: (b) => b.mul(b.reshape(b.input('x', [2, 6]), [3, 4]), b.input('s', [4])) },
  { name: 'permute', build: (b) => b.mul(b.permute(b.input('x', [2, 3, 4]), [2, 0, 1]), b.input('s', [1, 3])) },
  { name: 'transpose', build: (b) => b.mul(b.transpose(b.input('x', [2, 3, 4]), 0, 2), b.input('s', [4, 3, 1])) },
  {
    name: 'concat axis 1',
    build: (b) => b.concat([b.input('a', [2, 3]), b.input('c', [2, 2]), b.input('d', [2, 1])], 1),
  },
  { name: 'slice step 1', build: (b) => b.slice(b.input('x', [3, 8]), 1, 2, 6) },
  { name: 'slice step 3', build: (b) => b.slice(b.input('x', [3, 10]), 1, 1, 9, 3) },
  { name: 'slice step 2 to the end', build: (b) => b.slice(b.input('x', [7, 2]), 0, 0, 7, 2) },
  {
    name: 'modulate',
    build: (b) => b.modulate(b.input('x', [2, 3, 4]), b.input('shift', [2, 4]), b.input('scale', [2, 4])),
  },
  { name: 'gate', build: (b) => b.gate(b.input('x', [2, 3, 4]), b.input('g', [2, 4])) },
  {
    name: 'rope3d (inverse rotation) with a text offset',
    build: (b) => b.rope3d(b.input('x', [1, 2, 14, 12]), { grid: [2, 2, 3], dims: [4, 4, 4], theta: 100, offset: 2 }),
  },
  { name: 'token_scale (through max |x|)', build: (b) => b.op('token_scale', [b.input('x', [3, 7])], { bits: 6 }) },
];

describe('VJP rules against central finite differences', () => {
  const all = [...ELEMENTWISE, ...NN, ...SHAPE_VDIT];
  all.forEach((c, i) => {
    it(c.name, () => {
      const b = GraphBuilder.create('vjp');
      const fn = b.build(c.build(b));
      const wrt = c.wrt ?? leafNames(fn);
      const { worst } = checkGradFD(fn, { wrt, seed: 1000 + i, ...(c.ranges ? { ranges: c.ranges } : {}), ...c.fd });
      expect(worst).toBeLessThan(1e-2);
    });
  });
});

describe('the checker is not vacuous', () => {
  it('a wrong gradient (of sin, checked against cos) fails', () => {
    const b = GraphBuilder.create('wrong');
    const x = b.input('x', [5]);
    const cos = b.build(node('cos', [x]));
    expect(() => checkGradFD(cos, { wrt: ['x'], seed: 7 })).not.toThrow();
    expect(() => checkGradFD(cos, { wrt: ['x'], seed: 7, differentiate: b.build(node('sin', [x])) }))
      .toThrow(/finite differences/);
  });
});
