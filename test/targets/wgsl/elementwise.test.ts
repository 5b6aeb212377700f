import { describe, it } from 'vitest';
import { UNARY_OPS } from '../../../ir/ops.ts';
import { node } from '../../../ir/node.ts';
import { expectClose, hasF16, hasGpu, input, opCase, randomTensor, rng, runBoth, TOL_F16, TOL_F32 } from './harness.ts';

const FLOAT_UNARY = UNARY_OPS.filter((op) => op !== 'cast' && op !== 'gelu');
// inputs where each op is defined (log/sqrt/rsqrt/recip need a positive argument)
const POSITIVE = new Set(['log', 'sqrt', 'rsqrt', 'recip']);

describe.skipIf(!hasGpu)('wgsl elementwise', () => {
  for (const op of FLOAT_UNARY) {
    it(`${op} f32 [3,37]`, async () => {
      const range: [number, number] = POSITIVE.has(op) ? [0.1, 4] : [-6, 6];
      const { n, inputs } = opCase(op, [['f32', [3, 37]]], {}, 11, range);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, { rtol: 2e-6, atol: 2e-6 });
    });
  }
  for (const approx of ['none', 'tanh']) {
    it(`gelu approx=${approx} f32`, async () => {
      const { n, inputs } = opCase('gelu', [['f32', [1000]]], { approx }, 12, [-8, 8]);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, TOL_F32);
    });
  }
});

describe.skipIf(!hasGpu)('wgsl binary, where, cast, fused', () => {
  for (const op of ['add', 'sub', 'mul', 'div', 'max', 'min'] as const) {
    it(`${op} f32 with broadcasting [4,1,6] ⊕ [5,1]`, async () => {
      const { n, inputs } = opCase(op, [['f32', [4, 1, 6]], ['f32', [5, 1]]], {}, 20, [0.5, 3]);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, TOL_F32);
    });
  }
  it('pow f32 with negative bases and integer exponents', async () => {
    const r = rng(21);
    const a = randomTensor(r, 'f32', [64], -3, 3);
    const b = randomTensor(r, 'i32', [64], -2, 3);
    const n = node('pow', [input('a', 'f32', [64]), input('b', 'f32', [64])]);
    const [got, want] = await runBoth(n, { a, b: { type: { dtype: 'f32', shape: [64] }, data: Float32Array.from(b.data) } });
    expectClose(got, want, { rtol: 1e-5, atol: 1e-5 });
  });
  for (const op of ['add', 'mul', 'div', 'pow', 'max'] as const) {
    it(`${op} i32 (integer semantics: wrap, truncating division, x/0 = 0)`, async () => {
      const { n, inputs } = opCase(op, [['i32', [50]], ['i32', [50]]], {}, 22, op === 'pow' ? [-3, 5] : [-9, 9]);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, { rtol: 0, atol: 0 });
    });
  }
  it('where with bool condition broadcast', async () => {
    const { n, inputs } = opCase('where', [['bool', [3, 1]], ['f32', [3, 8]], ['f32', [8]]], {}, 23);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, { rtol: 0, atol: 0 });
  });
  for (const [from, to] of [['f32', 'i32'], ['i32', 'f32'], ['f32', 'bool'], ['bool', 'f32'], ['i32', 'bool']] as const) {
    it(`cast ${from} → ${to}`, async () => {
      const r = rng(24);
      const x = randomTensor(r, from, [40], -4, 4);
      // exact halves exercise round-half-to-even
      if (from === 'f32') x.data.set([0.5, 1.5, 2.5, -0.5, -2.5, 0, 3e9, -3e9]);
      const n = node('cast', [input('a', from, [40])], { to });
      const [got, want] = await runBoth(n, { a: x });
      expectClose(got, want, { rtol: 0, atol: 0 });
    });
  }
  it('fused silu(add($0, $1)) * 0.5 with broadcasting', async () => {
    const { n, inputs } = opCase('fused', [['f32', [3, 10]], ['f32', [10]]], { expr: 'mul(silu(add($0, $1)), 0.5)' }, 25);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, TOL_F32);
  });
  it('fused with where, gelu tanh, cast and an i32 operand', async () => {
    const { n, inputs } = opCase(
      'fused', [['bool', [6, 4]], ['f32', [6, 4]], ['i32', [4]]],
      { expr: 'where($0, gelu{approx="tanh"}($1), cast{to="f32"}(add($2, 1)))', dtype: 'f32' }, 26,
    );
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, TOL_F32);
  });
  it('fused that ignores an operand still binds it', async () => {
    const { n, inputs } = opCase('fused', [['f32', [5]], ['f32', [5]]], { expr: 'exp($1)' }, 27);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, TOL_F32);
  });
  it.skipIf(!hasF16)('f16 storage: fused gelu(mul($0,$1)) and sigmoid', async () => {
    const { n, inputs } = opCase('fused', [['f16', [7, 9]], ['f16', [9]]], { expr: 'gelu(mul($0, $1))' }, 28);
    const [got, want] = await runBoth(n, inputs, 'f16');
    expectClose(got, want, TOL_F16);
    const s = opCase('sigmoid', [['f16', [100]]], {}, 29, [-8, 8]);
    const [g2, w2] = await runBoth(s.n, s.inputs, 'f16');
    expectClose(g2, w2, TOL_F16);
  });
});
