import { describe, expect, it } from 'vitest';
import { node } from '../../../ir/node.ts';
import type { DType } from '../../../ir/dtype.ts';
import type { Shape } from '../../../ir/types.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { attentionSharedBytes, ATTENTION_BLOCKS } from '../../../targets/wgsl/kernels/attention.ts';
import { lowerNode } from '../../../targets/wgsl/select.ts';
import { expectClose, hasF16, hasGpu, input, randomTensor, rng, runBoth, TOL_ACC, TOL_F16 } from './harness.ts';

interface Case {
  readonly q: Shape;
  readonly nk: number;
  readonly dv?: number;
  readonly mask?: [DType, Shape];
}

function attnCase(c: Case, seed: number, dtype: DType = 'f32') {
  const [B, H, , D] = c.q as [number, number, number, number];
  const dv = c.dv ?? D;
  const r = rng(seed);
  const leaves = [input('q', dtype, c.q), input('k', dtype, [B, H, c.nk, D]), input('v', dtype, [B, H, c.nk, dv])];
  const inputs: Record<string, ReturnType<typeof randomTensor>> = {
    q: randomTensor(r, dtype, c.q), k: randomTensor(r, dtype, [B, H, c.nk, D]), v: randomTensor(r, dtype, [B, H, c.nk, dv]),
  };
  if (c.mask) {
    const [md, ms] = c.mask;
    leaves.push(input('m', md, ms));
    const t = randomTensor(r, md, ms, -3, 1);
    // key 0 always attends, so no row is fully masked (whose result is NaN in the reference)
    if (md === 'bool') for (let i = 0; i < t.data.length; i += ms[ms.length - 1]!) t.data[i] = 1;
    inputs['m'] = t;
  }
  return { n: node('attention', leaves, { scale: 1 / Math.sqrt(c.q[3]!) }), inputs };
}

const CASES: [string, Case][] = [
  ['no mask, Nq=Nk=40, D=32', { q: [1, 2, 40, 32], nk: 40 }],
  ['no mask, Nq=7 ≠ Nk=75, D=24, Dv=40', { q: [2, 1, 7, 24], nk: 75, dv: 40 }],
  ['bool mask [B,1,Nq,Nk], Nq=19, Nk=33', { q: [2, 2, 19, 16], nk: 33, mask: ['bool', [2, 1, 19, 33]] }],
  ['bool key-padding mask [B,1,1,Nk]', { q: [2, 3, 9, 8], nk: 21, mask: ['bool', [2, 1, 1, 21]] }],
  ['additive mask broadcast [Nq,Nk]', { q: [1, 2, 17, 16], nk: 50, mask: ['f32', [17, 50]] }],
  ['head dim 128, Nk=37', { q: [1, 1, 20, 128], nk: 37 }],
  ['head dim 5 (odd), Dv=3', { q: [1, 2, 11, 5], nk: 13, dv: 3 }],
  // D=64 and Dv=32 are multiples of 4 × the subgroup size 8: the direct kernel shares K/V rows by subgroupBroadcast
  ['D=64, Dv=32, Nq=150 over several workgroups, odd Nk=77', { q: [2, 2, 150, 64], nk: 77, dv: 32 }],
  ['D=64, bool mask [B,H,Nq,Nk], Nq=37 ≠ Nk=64', { q: [1, 3, 37, 64], nk: 64, mask: ['bool', [1, 3, 37, 64]] }],
  ['D=32, additive mask [1,H,1,Nk]', { q: [2, 2, 20, 32], nk: 31, mask: ['f32', [1, 2, 1, 31]] }],
];

// both variants run on every device: `tiled` is what GPUs get, `direct` what CPU adapters get
for (const variant of ['tiled', 'direct'] as const) {
  const force = { attention: variant };
  describe.skipIf(!hasGpu)(`wgsl flash attention (${variant})`, () => {
    CASES.forEach(([name, c], i) => {
      it(`${name} f32`, async () => {
        const { n, inputs } = attnCase(c, 400 + i);
        const [got, want, spec] = await runBoth(n, inputs, 'f32', force);
        expect(spec.name).toBe(variant === 'direct' ? 'attention_direct' : 'attention');
        expectClose(got, want, TOL_ACC);
      });
    });
    it.skipIf(!hasF16)('f16 storage with bool mask, D=64', async () => {
      const { n, inputs } = attnCase({ q: [1, 2, 30, 64], nk: 45, mask: ['bool', [1, 2, 30, 45]] }, 420, 'f16');
      const [got, want] = await runBoth(n, inputs, 'f16', force);
      expectClose(got, want, TOL_F16);
    });
    it.skipIf(!hasF16)('f16 storage, odd head dim 5, Nq=9 ≠ Nk=70', async () => {
      const { n, inputs } = attnCase({ q: [2, 1, 9, 5], nk: 70 }, 421, 'f16');
      const [got, want] = await runBoth(n, inputs, 'f16', force);
      expectClose(got, want, TOL_F16);
    });
  });
}

describe('attention block choice', () => {
  it('fits the default 16 KiB of workgroup memory even at head dim 128', () => {
    const { n } = attnCase({ q: [1, 1, 4, 128], nk: 4 }, 1);
    const spec = lowerNode(n, { elem: 'f32', caps: DEFAULT_CAPS });
    expect(spec.key).toContain('8x8');
    expect(attentionSharedBytes({ b: 1, h: 1, nq: 4, nk: 4, d: 128, dv: 128 }, 8, 8)).toBeLessThanOrEqual(16384);
    expect(ATTENTION_BLOCKS[0]).toEqual([16, 32]);
  });
  it('names the limit when no block fits', () => {
    const { n } = attnCase({ q: [1, 1, 4, 1024], nk: 4 }, 1);
    expect(() => lowerNode(n, { elem: 'f32', caps: DEFAULT_CAPS })).toThrow(/workgroup memory/);
  });
});
