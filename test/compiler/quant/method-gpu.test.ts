import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileModel, lowerForCompile, type CompileReport } from '../../../compiler/compile/compile-model.ts';
import { seededInputs } from '../../../compiler/inputs.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { QUANT_METHODS } from '../../../compiler/quant/method-transform.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { WgslExecutor } from '../../../runtime/executor.ts';
import { runReference } from '../../../runtime/reference.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';

/*
 * `vdit compile --method` on the WebGPU device (lavapipe here): every method's lowered 2-block narrow tiny model runs
 * on WGSL, gives finite output equal to the reference of the same lowered graph (relative ≤ 1e-3: f32 kernels, same
 * integer products), and the compile report records the method, calibration time and online transforms.
 */
const OUT = join(fileURLToPath(new URL('../../../', import.meta.url)), 'out', `test-method-${process.pid}`);
const gpu = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(OUT, { recursive: true, force: true });
});

const cfg = narrowTinySmallClip(2);
const fp = buildDiT(cfg);
const weights = seededWeights(fp, 7);

function relError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let [e, r] = [0, 0];
  for (let i = 0; i < ref.length; i++) [e, r] = [e + (got[i]! - ref[i]!) ** 2, r + ref[i]! ** 2];
  return Math.sqrt(e / r);
}

describe.skipIf(!gpu)('--method on WGSL (skipped without a WebGPU adapter)', () => {
  for (const method of QUANT_METHODS) {
    it(`${method}: the lowered W4A6 model runs, finite, and matches its reference (≤ 1e-3)`, async () => {
      const lowered = lowerForCompile(fp, weights, 'w4a6', gpu!, [], method);
      const inputs = seededInputs(fp, 3);
      const exec = await WgslExecutor.create(gpu!, lowered.graph, lowered.weights, { elem: 'f32' });
      const got = (await exec.run(inputs)).outputs[0]!.data as Float32Array;
      exec.dispose();
      const [want] = runReference(lowered.graph, inputs, lowered.weights);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(Math.max(...got.map(Math.abs))).toBeGreaterThan(0);
      expect(relError(got, want!.data)).toBeLessThan(1e-3);
      expect(lowered.methodReport.method).toBe(method);
    }, 120_000);
  }

  it('compileModel records the method, calibration time and the online rotations in report.json', () => {
    const dir = join(OUT, 'viditq');
    const r = compileModel(fp, weights, { quant: 'w4a6', method: 'viditq', gpu: gpu!, modelName: 't', classes: 49 }, dir);
    const saved = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as CompileReport;
    expect(saved.method).toBe('viditq');
    expect(saved.methodReport).toEqual(r.methodReport);
    expect(saved.methodReport.calibrationInputs).toBe(2);
    expect(saved.methodReport.calibrationMs).toBeGreaterThan(0);
    expect(saved.methodReport.onlineRotations).toBeGreaterThan(0);
    expect(saved.methodReport.notes.join()).toMatch(/GFLOP per forward.*measured on the GPU/);
  }, 120_000);
});
