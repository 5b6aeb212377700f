import { afterAll, describe, expect, it } from 'vitest';
import { buildDiT } from '../../compiler/model/dit.ts';
import { getPreset } from '../../compiler/model/presets.ts';
import { compareTensors } from '../../compiler/tensor-stats.ts';
import { readSafetensors } from '../../compiler/weights/safetensors.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import { runReference } from '../../runtime/reference.ts';
import type { Tensor } from '../../runtime/tensor.ts';

// The check against an implementation nobody here wrote: test/fixtures/tiny-parity.safetensors holds the trained
// tiny model's forward computed by PyTorch (models/tiny/export_fixture.py, f32, TF32 off) on the H100.
const FIXTURE = readSafetensors(new URL('../fixtures/tiny-parity.safetensors', import.meta.url).pathname);
const WEIGHTS = readSafetensors(new URL('../../models/tiny/model.safetensors', import.meta.url).pathname);
const TOL = 1e-4; // max |ours − torch| / max |torch|, f32
const tiny = getPreset('tiny');
const gpu = await openDevice().catch(() => undefined);
afterAll(() => gpu && closeDevice(gpu));

function fixture(name: string): Tensor {
  const t = FIXTURE.get(name);
  if (!t) throw new Error(`fixture lacks ${name}`);
  return t;
}

const inputsAt = (i: number): Record<string, Tensor> => ({ x: fixture(`x_${i}`), t: fixture(`t_${i}`), y: fixture(`y_${i}`) });

describe('tiny model parity with PyTorch', () => {
  it.each([0, 1, 2])('CPU reference matches the denoiser output at timestep %i (class 7 and null class)', (i) => {
    const [out] = runReference(buildDiT(tiny), inputsAt(i), WEIGHTS);
    expect(compareTensors(out!, fixture(`out_${i}`)).maxRelError).toBeLessThan(TOL);
  });

  it("CPU reference matches block 0's output", () => {
    const [out] = runReference(buildDiT(tiny, { stopAfterBlock: 0 }), inputsAt(1), WEIGHTS);
    expect(compareTensors(out!, fixture('block0_1')).maxRelError).toBeLessThan(TOL);
  });

  it.skipIf(!gpu)('WGSL f32 matches the denoiser output at t = 0.5 (fused pipeline; skipped without a WebGPU adapter)', async () => {
    const g = runPipeline(buildDiT(tiny), parsePipeline(DEFAULT_PIPELINE, builtinPasses())).graph;
    const exec = await WgslExecutor.create(gpu!, g, WEIGHTS, { elem: 'f32' });
    const { outputs } = await exec.run(inputsAt(1));
    exec.dispose();
    expect(compareTensors(outputs[0]!, fixture('out_1')).maxRelError).toBeLessThan(TOL);
  });
});
