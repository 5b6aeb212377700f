import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../ir/builder.ts';
import { mse } from '../../../passes/autodiff/mse.ts';
import { runReference } from '../../../runtime/reference.ts';
import { randomData, weightsOf } from './grad-check.ts';

describe('mse', () => {
  it('equals mean_t λ_t · mean_d (a − t)² computed here in f64', () => {
    const b = GraphBuilder.create('m');
    const [a, t, l] = [b.input('a', [2, 3, 4]), b.input('t', [2, 3, 4]), b.input('l', [3])];
    const g = b.build(mse(b, a, t, l));
    expect(g.outputs[0]!.type.shape).toEqual([]);
    const d = randomData(g, 9, { l: [0.1, 3] });
    const got = runReference(g, d.inputs, weightsOf({}), { f64: true })[0]!.data[0]!;
    const [A, T, L] = [d.inputs['a']!.data, d.inputs['t']!.data, d.inputs['l']!.data];
    let want = 0;
    for (let tok = 0; tok < 6; tok++) {
      let e = 0;
      for (let k = 0; k < 4; k++) e += (A[tok * 4 + k]! - T[tok * 4 + k]!) ** 2;
      want += (L[tok % 3]! * e) / 4;
    }
    expect(got).toBeCloseTo(want / 6, 6);
  });
  it('rejects weights that do not broadcast to the tokens', () => {
    const b = GraphBuilder.create('m');
    const a = b.input('a', [2, 3, 4]);
    expect(() => mse(b, a, a, b.input('l', [4]))).toThrow(/do not broadcast to the tokens \[2,3\]/);
    expect(() => mse(b, a, b.input('t', [2, 3]))).toThrow(/one shape/);
  });
});

