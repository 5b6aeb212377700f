import { describe, expect, it } from 'vitest';
import type { Shape } from '../../../ir/types.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { lowerLinearDirect } from '../../../targets/wgsl/kernels/gemm-direct.ts';
import { expectClose, hasF16, hasGpu, opCase, runBoth, TOL_ACC, TOL_F16 } from './harness.ts';

// K up to 100 with inputs in [-1, 1): sums of ~100 products, so 1e-4 relative-ish covers f32 reassociation
const MATMULS: [string, Shape, Shape][] = [
  ['square 64', [64, 64], [64, 64]],
  ['odd 67x45x93', [67, 45], [45, 93]],
  ['tiny 1x1x1', [1, 1], [1, 1]],
  ['batched 3x[19,33]x[33,70]', [3, 19, 33], [3, 33, 70]],
  ['broadcast batch [2,1,5,17]x[3,17,9]', [2, 1, 5, 17], [3, 17, 9]],
  ['long K 100', [13, 100], [100, 130]],
  ['N % 4 == 0, many column blocks [9,24]x[24,1032]', [9, 24], [24, 1032]],
];

// both variants run on every device: `tiled` is what GPUs get, `direct` what CPU adapters get
for (const variant of ['tiled', 'direct'] as const) {
  const force = { linear: variant, matmul: variant };
  const suffix = variant === 'direct' ? '_direct' : '';
  describe.skipIf(!hasGpu)(`wgsl gemm (${variant})`, () => {
    MATMULS.forEach(([name, a, b], i) => {
      it(`matmul ${name} f32`, async () => {
        const { n, inputs } = opCase('matmul', [['f32', a], ['f32', b]], {}, 100 + i, [-1, 1]);
        const [got, want, spec] = await runBoth(n, inputs, 'f32', force);
        expect(spec.name).toBe(`matmul${suffix}`);
        expectClose(got, want, TOL_ACC);
      });
    });
    it('linear with bias, x[2,37,50] w[70,50] f32', async () => {
      const { n, inputs } = opCase('linear', [['f32', [2, 37, 50]], ['f32', [70, 50]], ['f32', [70]]], {}, 120, [-1, 1]);
      const [got, want, spec] = await runBoth(n, inputs, 'f32', force);
      expect(spec.name).toBe(`linear${suffix}`);
      expectClose(got, want, TOL_ACC);
    });
    it('linear without bias, x[130,16] w[3,16] f32', async () => {
      const { n, inputs } = opCase('linear', [['f32', [130, 16]], ['f32', [3, 16]]], {}, 121, [-1, 1]);
      const [got, want] = await runBoth(n, inputs, 'f32', force);
      expectClose(got, want, TOL_ACC);
    });
    it('linear over several row and column blocks, x[2,300,64] w[77,64] + bias, f32', async () => {
      const { n, inputs } = opCase('linear', [['f32', [2, 300, 64]], ['f32', [77, 64]], ['f32', [77]]], {}, 124, [-1, 1]);
      const [got, want] = await runBoth(n, inputs, 'f32', force);
      expectClose(got, want, TOL_ACC);
    });
    it('linear with odd K (scalar loads), x[45,33] w[19,33] f32', async () => {
      const { n, inputs } = opCase('linear', [['f32', [45, 33]], ['f32', [19, 33]], ['f32', [19]]], {}, 125, [-1, 1]);
      const [got, want] = await runBoth(n, inputs, 'f32', force);
      expectClose(got, want, TOL_ACC);
    });
    it.skipIf(!hasF16)('linear with bias f16 storage (f32 accumulate), x[70,96] w[65,96]', async () => {
      const { n, inputs } = opCase('linear', [['f16', [70, 96]], ['f16', [65, 96]], ['f16', [65]]], {}, 122, [-1, 1]);
      const [got, want] = await runBoth(n, inputs, 'f16', force);
      expectClose(got, want, TOL_F16);
    });
    it.skipIf(!hasF16)('linear f16 storage with odd K, x[21,15] w[10,15]', async () => {
      const { n, inputs } = opCase('linear', [['f16', [21, 15]], ['f16', [10, 15]]], {}, 126, [-1, 1]);
      const [got, want] = await runBoth(n, inputs, 'f16', force);
      expectClose(got, want, TOL_F16);
    });
    it.skipIf(!hasF16)('matmul batched f16 storage', async () => {
      const { n, inputs } = opCase('matmul', [['f16', [2, 33, 40]], ['f16', [40, 20]]], {}, 123, [-1, 1]);
      const [got, want] = await runBoth(n, inputs, 'f16', force);
      expectClose(got, want, TOL_F16);
    });
  });
}

describe('direct linear kernel shape', () => {
  it('folds more than 65535 workgroups into a 2-D grid', () => {
    const { n } = opCase('linear', [['f32', [4, 8]], ['f32', [600000, 8]]], {}, 1);
    const spec = lowerLinearDirect(n, { elem: 'f32', caps: DEFAULT_CAPS });
    expect(spec.dispatch[0]).toBeLessThanOrEqual(65535);
    expect(spec.dispatch[0] * spec.dispatch[1] * spec.dispatch[2]).toBeGreaterThanOrEqual(600000 / 8);
    expect(spec.source).not.toContain('workgroupBarrier');
    expect(spec.source).not.toContain('var<workgroup>');
  });
});
