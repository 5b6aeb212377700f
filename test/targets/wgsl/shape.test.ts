import { describe, expect, it } from 'vitest';
import { node } from '../../../ir/node.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { expectClose, hasF16, hasGpu, input, opCase, randomTensor, rng, runBoth } from './harness.ts';

const EXACT = { rtol: 0, atol: 0 };

describe.skipIf(!hasGpu)('wgsl shape ops', () => {
  it('permute rank 6 f32', async () => {
    const { n, inputs } = opCase('permute', [['f32', [2, 3, 4, 1, 5, 2]]], { perm: [4, 0, 5, 2, 3, 1] }, 201);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, EXACT);
  });
  it('permute rank 8 i32', async () => {
    const { n, inputs } = opCase('permute', [['i32', [2, 1, 3, 2, 2, 3, 1, 2]]], { perm: [7, 6, 5, 4, 3, 2, 1, 0] }, 202);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, EXACT);
  });
  it('transpose bool', async () => {
    const { n, inputs } = opCase('transpose', [['bool', [3, 5, 7]]], { dim0: 0, dim1: -1 }, 203);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, EXACT);
  });
  it.skipIf(!hasF16)('transpose f16 (bit-exact copy)', async () => {
    const { n, inputs } = opCase('transpose', [['f16', [2, 9, 13]]], { dim0: 1, dim1: 2 }, 204);
    const [got, want] = await runBoth(n, inputs, 'f16');
    expectClose(got, want, EXACT);
  });
  it('concat of 3 along a middle axis', async () => {
    const { n, inputs } = opCase('concat', [['f32', [2, 3, 5]], ['f32', [2, 1, 5]], ['f32', [2, 4, 5]]], { axis: 1 }, 205);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, EXACT);
  });
  it('concat along the last axis, i32', async () => {
    const { n, inputs } = opCase('concat', [['i32', [3, 2]], ['i32', [3, 7]]], { axis: -1 }, 206);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, EXACT);
  });
  it('slice with step', async () => {
    const { n, inputs } = opCase('slice', [['f32', [4, 17, 3]]], { axis: 1, start: 2, end: 16, step: 3 }, 207);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, EXACT);
  });
  it('gather rows with a 2-d index tensor', async () => {
    const r = rng(208);
    const x = input('a', 'f32', [2, 10, 3]);
    const idx = input('b', 'i32', [2, 4]);
    const n = node('gather', [x, idx], { axis: 1 });
    const inputs = {
      a: randomTensor(r, 'f32', [2, 10, 3]),
      b: tensor({ dtype: 'i32', shape: [2, 4] }, Int32Array.from({ length: 8 }, () => Math.floor(r() * 10))),
    };
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, EXACT);
  });
  it('large 1-d copy folds its grid past 65535 workgroups', async () => {
    const { n, inputs } = opCase('slice', [['f32', [70000 * 256 + 5]]], { axis: 0, start: 1, end: 70000 * 256 + 5, step: 1 }, 209);
    const [got, want, spec] = await runBoth(n, inputs);
    expect(spec.dispatch[1]).toBeGreaterThan(1);
    expectClose(got, want, EXACT);
  });
});
