import { describe, expect, it } from 'vitest';
import { node } from '../../../ir/node.ts';
import { expectClose, hasF16, hasGpu, input, opCase, runBoth, TOL_F16, TOL_F32 } from './harness.ts';

describe.skipIf(!hasGpu)('wgsl video-DiT ops', () => {
  for (const [flip, shift] of [[false, 0], [true, 1]] as const) {
    // t up to 1000: the f32 angle a = t·f itself carries ~6e-5 absolute error, hence atol 2e-4
    it(`timestep_embedding flip=${flip} shift=${shift}`, async () => {
      const { n, inputs } = opCase('timestep_embedding', [['f32', [5]]],
        { dim: 64, max_period: 10000, flip, shift, scale: 1 }, 500, [0, 1000]);
      const [got, want] = await runBoth(n, inputs);
      expectClose(got, want, { rtol: 0, atol: 2e-4 });
    });
  }
  it('modulate x[2,7,33]', async () => {
    const { n, inputs } = opCase('modulate', [['f32', [2, 7, 33]], ['f32', [2, 33]], ['f32', [2, 33]]], {}, 510);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, TOL_F32);
  });
  it('gate x[3,5,16]', async () => {
    const { n, inputs } = opCase('gate', [['f32', [3, 5, 16]], ['f32', [3, 16]]], {}, 511);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, TOL_F32);
  });
  it('rope3d with text offset, grid [2,3,4], dims [4,6,6]', async () => {
    const attrs = { grid: [2, 3, 4], dims: [4, 6, 6], theta: 10000, offset: 3 };
    const { n, inputs } = opCase('rope3d', [['f32', [2, 2, 27, 16]]], attrs, 520);
    const [got, want] = await runBoth(n, inputs);
    expectClose(got, want, { rtol: 1e-5, atol: 2e-5 });
  });
  it.skipIf(!hasF16)('rope3d and modulate with f16 storage', async () => {
    const r = opCase('rope3d', [['f16', [1, 2, 8, 8]]], { grid: [2, 2, 2], dims: [2, 2, 4], theta: 100, offset: 0 }, 521);
    const [g1, w1] = await runBoth(r.n, r.inputs, 'f16');
    expectClose(g1, w1, TOL_F16);
    const m = opCase('modulate', [['f16', [2, 3, 8]], ['f16', [2, 8]], ['f16', [2, 8]]], {}, 522);
    const [g2, w2] = await runBoth(m.n, m.inputs, 'f16');
    expectClose(g2, w2, TOL_F16);
  });
  it('const fills every element (f32 and i32)', async () => {
    for (const [dtype, value] of [['f32', -1.25], ['i32', 7]] as const) {
      const n = node('const', [], { value }, { dtype, shape: [3, 100] });
      const [got, want] = await runBoth(n, {});
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
    }
  });
  it('input leaves have no kernel', async () => {
    const { lowerNode } = await import('../../../targets/wgsl/select.ts');
    const { DEFAULT_CAPS } = await import('../../../targets/target.ts');
    expect(() => lowerNode(input('x', 'f32', [2]), { elem: 'f32', caps: DEFAULT_CAPS })).toThrow('wgsl: no kernel for op input');
  });
});
