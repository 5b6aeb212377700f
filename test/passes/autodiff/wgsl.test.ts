import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../ir/builder.ts';
import { node, type Graph } from '../../../ir/index.ts';
import { grad } from '../../../passes/autodiff/grad.ts';
import { closeDevice, openDevice, type GpuContext } from '../../../runtime/device.ts';
import { WgslExecutor } from '../../../runtime/executor.ts';
import { runReference } from '../../../runtime/reference.ts';
import type { Tensor } from '../../../runtime/tensor.ts';
import { projected, randomData, weightsOf, type Data, type Range } from './grad-check.ts';
import { DIT_PARAMS, DIT_RANGES, ditLossGraph } from './dit-block.ts';

const gpu: GpuContext | undefined = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
});

// f32 everywhere; GPU and reference sum in different orders: |gpu − ref| ≤ 1e-3·max|ref| + 1e-6 per output
function expectNear(got: readonly Tensor[], want: readonly Tensor[]): void {
  expect(got).toHaveLength(want.length);
  got.forEach((o, i) => {
    const ref = want[i]!.data;
    const scale = Math.max(...Array.from(ref, (v) => Math.abs(Number(v))));
    expect(scale).toBeGreaterThan(0);
    for (let j = 0; j < ref.length; j++) {
      const err = Math.abs(Number(o.data[j]) - Number(ref[j]));
      if (!(err <= 1e-3 * scale + 1e-6)) throw new Error(`output ${i}[${j}]: gpu ${o.data[j]}, reference ${ref[j]}`);
    }
  });
}

async function runBoth(gg: Graph, d: Data): Promise<void> {
  const want = runReference(gg, d.inputs, weightsOf(d.params));
  const ex = await WgslExecutor.create(gpu!, gg, weightsOf(d.params), { elem: 'f32' });
  try {
    expectNear((await ex.run(d.inputs)).outputs, want);
  } finally {
    ex.dispose();
  }
}

/** One graph over the rules whose VJPs use masks, −∞ constants, scatter-by-concat and straight-through casts. */
function maskyGraph(): Graph {
  const b = GraphBuilder.create('masky');
  const x = b.input('x', [2, 2, 4, 8]);
  const m = b.input('m', [1, 1, 4, 4], 'bool');
  const w = b.param('w', [8]);
  const xw = b.mul(x, w);
  const d = node('token_scale', [xw], { bits: 4 });
  const qdq = node('dequantize', [node('quantize', [xw, d], { bits: 4 }), d]);
  const att = b.attention(qdq, b.op('abs', [xw]), b.gelu(xw, 'none'), { mask: m });
  const mx = b.op('reduce_max', [b.op('max', [att, b.op('relu', [x])])], { axes: [2], keepdims: true });
  const strided = b.slice(b.op('min', [xw, x]), 3, 1, 8, 3);
  const y = b.concat([b.reshape(mx, [2, 2, 4, 2]), b.reshape(strided, [2, 2, 4, 3])], 3);
  return b.build(y);
}

describe.skipIf(!gpu)('gradient graphs on WGSL (Dawn) match the f32 CPU reference', () => {
  it('DiT block: λ-weighted MSE and the gradient of every weight and of x', async () => {
    const gg = grad(ditLossGraph(), { wrt: [...DIT_PARAMS, 'x'] });
    await runBoth(gg, randomData(gg, 77, DIT_RANGES));
  });
  it('masks, straight-through quantize, reduce_max, strided slice, bool-masked attention', async () => {
    const gg = grad(projected(maskyGraph()), { wrt: ['x', 'w'] });
    const ranges: Record<string, Range> = { w: [0.5, 1.5] };
    await runBoth(gg, randomData(gg, 78, ranges));
  });
});
