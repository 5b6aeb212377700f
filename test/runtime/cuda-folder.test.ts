import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileModel, lowerForCompile } from '../../compiler/compile/compile-model.ts';
import { seededInputs } from '../../compiler/inputs.ts';
import { buildDiT } from '../../compiler/model/dit.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import type { CompiledManifest } from '../../runtime/compiled-executor.ts';
import { openFolderCuda } from '../../runtime/cuda-folder.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { runReference } from '../../runtime/reference.ts';
import { cpuDenoiser } from '../../runtime/sampler.ts';
import { samplerBounds } from '../../passes/prune-schedule.ts';
import { GXX } from '../targets/cuda/emulate/emulate.ts';
import { narrowTinySmallClip } from '../compiler/model/narrow-tiny.ts';

const SHIM = join(dirname(fileURLToPath(import.meta.url)), '../targets/cuda/emulate/cuda-host.h');
const work = mkdtempSync(join(tmpdir(), 'vdit-cuda-folder-'));
const gpu = GXX ? await openDevice().catch(() => undefined) : undefined;
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(work, { recursive: true, force: true });
});

it('a folder compiled without --target cuda is refused with the fix', async () => {
  const manifest = { buffers: [] } as unknown as CompiledManifest;
  await expect(openFolderCuda(work, manifest, new Uint8Array())).rejects.toThrow(/no cuda\/runner\.cu: .*--target cuda/);
});

// the folder's params come from weights.bin by name (f16-stored ones widened): the runner must see the same model
describe.skipIf(!gpu)('a `--target cuda` folder on the emulated runner (needs g++ and a WebGPU adapter to compile)', () => {
  it('denoises like the reference of the lowered graph', async () => {
    const fp = buildDiT({ ...narrowTinySmallClip(2), depth: 1 });
    const weights = seededWeights(fp, 3);
    const dir = join(work, 'folder');
    compileModel(fp, weights, { quant: 'w4a8', method: 'rtn', gpu: gpu!, modelName: 't', classes: 49, target: 'cuda' }, dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
    const cuda = await openFolderCuda(dir, manifest, new Uint8Array(readFileSync(join(dir, 'weights.bin'))),
      { emulate: SHIM, cacheDir: join(work, 'cache'), timeoutMs: 120_000 });
    try {
      const lowered = lowerForCompile(fp, weights, 'w4a8', gpu!);
      const inputs = seededInputs(lowered.graph, 4);
      const got = await cuda.denoise(inputs['x']!.data as Float32Array, inputs['t']!.data as Float32Array,
        inputs['y']!.data as Int32Array);
      const want = runReference(lowered.graph, inputs, lowered.weights)[0]!.data as Float32Array;
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(got.length).toBe(want.length);
      expect(scale).toBeGreaterThan(0.05);
      // as in cuda-runner.test.ts: exact integer parts, f32 sums in another order
      expect(got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0)).toBeLessThanOrEqual(1e-4 * scale);
    } finally {
      cuda.close();
    }
  }, 300_000);

  it('with carried state (cache=frozen) follows the CPU denoiser over a dense step and the pruned ones after it', async () => {
    const fp = buildDiT({ ...narrowTinySmallClip(2), depth: 1 });
    const weights = seededWeights(fp, 5);
    const prune = { keeps: [1, 0.5], bounds: samplerBounds(2), tile: 4, keepFirst: 0, online: true, residual: 'frozen' } as const;
    const dir = join(work, 'frozen');
    compileModel(fp, weights, { quant: 'none', method: 'rtn', gpu: gpu!, modelName: 't', classes: 49, target: 'cuda',
      calibration: { prune } }, dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
    const cuda = await openFolderCuda(dir, manifest, new Uint8Array(readFileSync(join(dir, 'weights.bin'))),
      { emulate: SHIM, cacheDir: join(work, 'cache'), timeoutMs: 120_000 });
    try {
      const lowered = lowerForCompile(fp, weights, 'none', gpu!, [], 'rtn', { prune });
      const want = cpuDenoiser({ graph: lowered.graph, weights: lowered.weights });
      const inputs = seededInputs(fp, 6);
      const [x, y] = [inputs['x']!.data as Float32Array, inputs['y']!.data as Int32Array];
      // the carries stay in the runner (its step request): a wrong carry would show at the pruned steps
      for (const t of [0.95, 0.3, 0.1]) {
        const tt = new Float32Array(inputs['t']!.type.shape[0]!).fill(t);
        const [g, w] = [await cuda.denoise(x, tt, y), await want(x, tt, y)];
        const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(scale).toBeGreaterThan(0.05);
        expect(g.reduce((m, v, i) => Math.max(m, Math.abs(v - w[i]!)), 0)).toBeLessThanOrEqual(1e-4 * scale);
      }
    } finally {
      cuda.close();
    }
  }, 300_000);
});
