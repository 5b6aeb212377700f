import { describe, expect, it } from 'vitest';
import { verify } from '../../../ir/index.ts';
import { checkGradFD, expectRoundTrip } from './grad-check.ts';
import { DIT_PARAMS, DIT_RANGES as RANGES, ditGraph, ditLossGraph } from './dit-block.ts';

describe('gradient of a DiT block', () => {
  // f64 reference both ways, eps 1e-3; |autodiff − fd| ≤ 1e-4 + 1e-3·|fd| on 10 sampled elements per tensor
  it('matches finite differences for every weight and bias, and for the input x', () => {
    const { gradGraph } = checkGradFD(ditGraph(), { wrt: [...DIT_PARAMS, 'x', 'c'], seed: 42, ranges: RANGES });
    expect(gradGraph.outputs).toHaveLength(DIT_PARAMS.length + 3);
  });

  // the loss is rounded to f32 on output: noise ≈ 6e-8·L / 2eps, well inside 1e-4 + 1e-3·|fd|
  it('of the λ-weighted per-token MSE matches finite differences', () => {
    const g = ditLossGraph();
    const { gradGraph } = checkGradFD(g, { wrt: ['fc2.weight', 'qkv.weight', 'adaln.bias'], seed: 43, ranges: RANGES });
    verify(gradGraph);
    expectRoundTrip(gradGraph);
  });
});

