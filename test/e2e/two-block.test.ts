import { afterAll, describe, expect, it } from 'vitest';
import { seededInputs } from '../../compiler/inputs.ts';
import { buildDiT } from '../../compiler/model/dit.ts';
import { tinyConfig } from '../../compiler/model/presets.ts';
import { compareTensors } from '../../compiler/tensor-stats.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { verify } from '../../ir/verify.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import { runReference } from '../../runtime/reference.ts';

// A 2-block V-DiT end to end: build → passes (verified after each) → WGSL on Dawn → compare with the reference.
const gpu = await openDevice().catch(() => undefined);
afterAll(() => gpu && closeDevice(gpu));

describe('2-block V-DiT, WGSL vs CPU reference', () => {
  const model = buildDiT(tinyConfig({ depth: 2, hidden: 128, heads: 2, ffn: 256, rope: { dims: [16, 24, 24], theta: 10000 } }));
  const weights = seededWeights(model, 11);
  const inputs = seededInputs(model, 5);
  const ref = runReference(model, inputs, weights)[0]!;
  const fused = runPipeline(model, parsePipeline(DEFAULT_PIPELINE, builtinPasses()), { verify }).graph;

  it.skipIf(!gpu)('f32 within 1e-4 relative (skipped without a WebGPU adapter)', async () => {
    const exec = await WgslExecutor.create(gpu!, fused, weights, { elem: 'f32' });
    const out = (await exec.run(inputs)).outputs[0]!;
    exec.dispose();
    expect(compareTensors(out, ref).maxRelError).toBeLessThan(1e-4);
  });

  it.skipIf(!gpu?.caps.hasF16)('f16 storage within 2e-2 relative (skipped when the adapter lacks shader-f16)', async () => {
    const exec = await WgslExecutor.create(gpu!, fused, weights, { elem: 'f16' });
    const out = (await exec.run(inputs)).outputs[0]!;
    exec.dispose();
    expect(compareTensors(out, ref).maxRelError).toBeLessThan(2e-2);
  });
});
