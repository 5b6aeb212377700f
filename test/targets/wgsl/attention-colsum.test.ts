import { describe, expect, it } from 'vitest';
import { IRError } from '../../../ir/errors.ts';
import { node } from '../../../ir/node.ts';
import type { Shape } from '../../../ir/types.ts';
import { expectClose, hasF16, hasGpu, input, randomTensor, reference, rng, runBoth, TOL_ACC, TOL_F16 } from './harness.ts';

function colsumCase(q: Shape, nk: number, seed: number, dtype: 'f32' | 'f16' = 'f32') {
  const [B, H, , D] = q as [number, number, number, number];
  const r = rng(seed);
  const kShape = [B, H, nk, D];
  const n = node('attention_colsum', [input('q', dtype, q), input('k', dtype, kShape)], { scale: 1 / Math.sqrt(D) });
  return { n, inputs: { q: randomTensor(r, dtype, q), k: randomTensor(r, dtype, kShape) } };
}

const CASES: [string, Shape, number][] = [
  ['Nq=Nk=40, D=32', [1, 2, 40, 32], 40],
  ['Nq=7 ≠ Nk=75, odd D=5', [2, 3, 7, 5], 75],
  ['Nk=300 over two key tiles, D=16', [2, 2, 33, 16], 300],
  ['Nk=3 smaller than the workgroup', [1, 1, 9, 8], 3],
];

describe('attention_colsum reference', () => {
  it('each (batch) row of S sums to H·Nq: softmax rows sum to one', () => {
    const { n, inputs } = colsumCase([2, 3, 11, 8], 17, 7);
    const s = reference(n, inputs);
    for (let b = 0; b < 2; b++) {
      const total = Array.from(s.data.subarray(b * 17, (b + 1) * 17)).reduce((a, v) => a + v, 0);
      expect(total).toBeCloseTo(3 * 11, 4);
    }
  });

  it('matches the column sums of an explicit softmax', () => {
    const { n, inputs } = colsumCase([1, 2, 5, 4], 6, 8);
    const [q, k] = [inputs.q.data, inputs.k.data];
    const want = new Array<number>(6).fill(0);
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 5; i++) {
        const s = Array.from({ length: 6 }, (_, j) =>
          Array.from({ length: 4 }, (_, e) => q[(h * 5 + i) * 4 + e]! * k[(h * 6 + j) * 4 + e]!).reduce((a, v) => a + v) / 2);
        const m = Math.max(...s);
        const z = s.reduce((a, v) => a + Math.exp(v - m), 0);
        s.forEach((v, j) => (want[j] = want[j]! + Math.exp(v - m) / z));
      }
    }
    const got = Array.from(reference(n, inputs).data);
    got.forEach((g, j) => expect(g).toBeCloseTo(want[j]!, 5));
  });

  it('rejects mismatched q, k with an IRError', () => {
    expect(() => node('attention_colsum', [input('q', 'f32', [1, 2, 4, 8]), input('k', 'f32', [1, 3, 4, 8])], { scale: 1 }))
      .toThrow(IRError);
    expect(() => node('attention_colsum', [input('q', 'f32', [1, 2, 4, 8]), input('k', 'f32', [1, 2, 4, 8])], {}))
      .toThrow(/attribute scale/);
  });
});

describe.skipIf(!hasGpu)('wgsl attention_colsum', () => {
  CASES.forEach(([name, q, nk], i) => {
    it(`${name} f32 (rtol/atol 1e-4)`, async () => {
      const { n, inputs } = colsumCase(q, nk, 500 + i);
      const [got, want, spec] = await runBoth(n, inputs, 'f32');
      expect(spec.name).toBe('attention_colsum');
      expectClose(got, want, TOL_ACC);
    });
  });
  it.skipIf(!hasF16)('f16 storage (rtol/atol 2e-2)', async () => {
    const { n, inputs } = colsumCase([1, 2, 24, 16], 50, 520, 'f16');
    const [got, want] = await runBoth(n, inputs, 'f16');
    expectClose(got, want, TOL_F16);
  });
});
