import { describe, expect, it } from 'vitest';
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
