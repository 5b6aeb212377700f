import { describe, expect, it } from 'vitest';
import { node } from '../../../ir/node.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { scheduleTimesteps } from '../schedule-timesteps.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { lowerNode } from '../../../targets/wgsl/select.ts';
import { expectClose, hasF16, hasGpu, input, opCase, rng, runBoth, TOL_F16, TOL_F32 } from './harness.ts';

// bounds at an f32 value (0.5) and between f32 values: f32(0.7), f32(−0.2) lie below theirs, f32(0.3), f32(0.1) above
const SCHEDULES: [string, { values: number[]; bounds: number[] }][] = [
  ['six ranges', { values: [0.1, 2, -3.25, 0.7, 1e-3, -0.4], bounds: [0.7, 0.5, 0.3, 0.1, -0.2] }],
  ['one range (no bounds)', { values: [0.3], bounds: [] }],
];

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
  SCHEDULES.forEach(([name, attrs], i) => {
    it(`schedule_value ${name}: the reference's range exactly, t at each f32 bound and its neighbours`, async () => {
      const t = scheduleTimesteps(attrs.bounds, rng(530 + i), 300);
      const n = node('schedule_value', [input('t', 'f32', [t.length])], attrs);
      const [got, want, spec] = await runBoth(n, { t: tensor(n.src[0]!.type, t) });
      expect(spec.name).toBe('schedule_value');
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
      // not vacuous: every range is picked
      expect(new Set(want.data).size).toBe(attrs.values.length);
    });
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

describe('schedule_value kernel description', () => {
  it('compares t with each bound rounded up to f32 and reads an f32 table of the values', () => {
    const n = node('schedule_value', [input('t', 'f32', [4])], { values: [1, 0.5, 0.1], bounds: [0.7, 0.5] });
    const spec = lowerNode(n, { elem: 'f32', caps: DEFAULT_CAPS });
    expect(spec.source).toContain('select(0u, 1u, tb < f32(0.7000000476837158))');
    expect(spec.source).toContain('select(0u, 1u, tb < f32(0.5))');
    expect(spec.source).toContain('VALUES[r]');
    const other = node('schedule_value', [input('t', 'f32', [4])], { values: [1, 0.5, 0.2], bounds: [0.7, 0.5] });
    expect(lowerNode(other, { elem: 'f32', caps: DEFAULT_CAPS }).key).not.toBe(spec.key);
  });
});
