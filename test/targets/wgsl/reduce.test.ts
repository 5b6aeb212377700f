import { describe, it } from 'vitest';
import { expectClose, hasF16, hasGpu, opCase, runBoth, TOL_ACC, TOL_F16, TOL_F32 } from './harness.ts';

describe.skipIf(!hasGpu)('wgsl reductions, norms, softmax', () => {
  const cases: [string, 'reduce_sum' | 'reduce_mean' | 'reduce_max', number[], number[], boolean][] = [
    ['sum last axis (serial)', 'reduce_sum', [5, 7, 9], [-1], false],
    ['mean axes 0,2 keepdims (serial)', 'reduce_mean', [5, 7, 9], [0, 2], true],
    ['max middle axis', 'reduce_max', [3, 11, 4], [1], false],
    ['sum of 600 (cooperative)', 'reduce_sum', [3, 600], [1], true],
    ['mean over 2 axes of 30x20 (cooperative)', 'reduce_mean', [30, 4, 20], [0, 2], false],
    ['max all (cooperative)', 'reduce_max', [17, 33], [0, 1], false],
  ];
  cases.forEach(([name, op, shape, axes, keepdims], i) => {
    it(`${op} ${name}`, async () => {
      const { n, inputs } = opCase(op, [['f32', shape]], { axes, keepdims }, 300 + i);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, TOL_ACC);
    });
  });
  it('reduce_sum i32', async () => {
    const { n, inputs } = opCase('reduce_sum', [['i32', [4, 300]]], { axes: [1] }, 310, [-50, 50]);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, { rtol: 0, atol: 0 });
  });
  it('layernorm affine, D=300', async () => {
    const { n, inputs } = opCase('layernorm', [['f32', [2, 5, 300]], ['f32', [300]], ['f32', [300]]], { eps: 1e-5 }, 320);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, TOL_ACC);
  });
  it('layernorm without affine, D=17', async () => {
    const { n, inputs } = opCase('layernorm', [['f32', [7, 17]]], { eps: 1e-6 }, 321);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, TOL_ACC);
  });
  it('rmsnorm affine and plain', async () => {
    for (const withW of [true, false]) {
      const ops: [ 'f32', number[]][] = withW ? [['f32', [6, 64]], ['f32', [64]]] : [['f32', [6, 64]]];
      const { n, inputs } = opCase('rmsnorm', ops, { eps: 1e-6 }, 322);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, TOL_ACC);
    }
  });
  it.skipIf(!hasF16)('layernorm f16 storage', async () => {
    const { n, inputs } = opCase('layernorm', [['f16', [4, 96]], ['f16', [96]], ['f16', [96]]], { eps: 1e-5 }, 323);
    const [got, want] = await runBoth(n, inputs, 'f16');
    expectClose(got, want, TOL_F16);
  });
  for (const [axis, shape] of [[-1, [4, 3, 50]], [1, [4, 300, 3]], [0, [5, 6]]] as const) {
    it(`softmax axis ${axis} of [${shape}]`, async () => {
      const { n, inputs } = opCase('softmax', [['f32', shape]], { axis }, 330 + axis, [-6, 6]);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, TOL_F32);
    });
  }
  it.skipIf(!hasF16)('softmax f16 storage', async () => {
    const { n, inputs } = opCase('softmax', [['f16', [3, 77]]], { axis: -1 }, 335, [-6, 6]);
    const [got, want] = await runBoth(n, inputs, 'f16');
    expectClose(got, want, TOL_F16);
  });
});
