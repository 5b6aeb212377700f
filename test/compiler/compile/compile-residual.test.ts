import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileModel, lowerForCompile } from '../../../compiler/compile/compile-model.ts';
import { seededInputs } from '../../../compiler/inputs.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { samplerBounds } from '../../../passes/prune-schedule.ts';
import { compiledDenoiser, createCompiledExecutor, type CompiledManifest } from '../../../runtime/compiled-executor.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { cpuDenoiser } from '../../../runtime/sampler.ts';
import { carryingDenoiser, manifestCarry } from '../../../runtime/carry.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';

// A compiled folder with residual reuse (passes/prune-residual.ts) carries each block's residual from forward to
// forward: its denoiser must follow the CPU reference's over a dense step and the pruned steps after it.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OUT = join(ROOT, 'out', `test-compile-residual-${process.pid}`);
const gpu = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(OUT, { recursive: true, force: true });
});

describe.skipIf(!gpu)('a compiled folder with cache=residual (skipped without a WebGPU adapter)', () => {
  const graph = buildDiT(narrowTinySmallClip(2));
  const weights = seededWeights(graph, 7);

  it.each([
    ['residual', true, ['carry.blocks.0.attn', 'carry.blocks.1.attn']],
    ['frozen', 'frozen', ['carry.blocks.0.attn', 'carry.blocks.0.lists', 'carry.blocks.1.attn', 'carry.blocks.1.lists']],
  ] as const)('%s: lists the carries as inputs and outputs; its denoiser feeds each forward what the last one left', async (mode, residual, carries) => {
    const prune = { keeps: [1, 0.5], bounds: samplerBounds(2), tile: 4, keepFirst: 0, online: true, residual } as const;
    const dir = join(OUT, mode);
    const report = compileModel(graph, weights, { quant: 'none', method: 'rtn', gpu: gpu!, modelName: 'test-tiny',
      classes: 49, calibration: { prune } }, dir);
    expect(report.pruning?.every((b) => b.online?.refreshRanges?.join() === 'true,false')).toBe(true);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
    expect(manifest.inputs.map((i) => i.name)).toEqual(['x', 't', 'y', ...carries]);
    expect(manifest.outputs).toHaveLength(1 + carries.length);
    const exec = await createCompiledExecutor(gpu!.device, manifest, new Uint8Array(readFileSync(join(dir, 'weights.bin'))),
      (f) => readFileSync(join(dir, f), 'utf8'));
    // what each forward was given and gave back
    const calls: { inputs: Readonly<Record<string, ArrayLike<number>>>; outputs: Float32Array[] }[] = [];
    const spy = { ...exec, run: async (inputs: Readonly<Record<string, ArrayLike<number>>>) => {
      const outputs = await exec.run(inputs);
      calls.push({ inputs, outputs: outputs.map((o) => o.slice()) });
      return outputs;
    } };
    const lowered = lowerForCompile(graph, weights, 'none', gpu!, [], 'rtn', { prune });
    const reference = (): ReturnType<typeof cpuDenoiser> => cpuDenoiser({ graph: lowered.graph, weights: lowered.weights });
    // the folder's denoiser keeps the carries on the device (exec.step); fed through the host (exec.run), the same
    const onDevice = compiledDenoiser(exec);
    const viaHost = carryingDenoiser(manifestCarry(manifest.inputs, manifest.outputs.length), (i) => spy.run(i));
    const inputs = seededInputs(graph, 5);
    const [x, y] = [inputs['x']!.data as Float32Array, inputs['y']!.data as Int32Array];
    const b = inputs['t']!.type.shape[0]!;
    const maxAbs = (a: ArrayLike<number>): number => Math.max(...Array.from(a, Math.abs));
    const maxDiff = (a: ArrayLike<number>, c: ArrayLike<number>): number => Math.max(...Array.from(a, (v, i) => Math.abs(v - c[i]!)));
    try {
      for (const got of [onDevice, viaHost]) {
        const want = reference();
        for (const t of [0.95, 0.3, 0.1]) {
          const tt = new Float32Array(b).fill(t);
          const [g, w] = [await got(x, tt, y), await want(x, tt, y)];
          expect(maxDiff(g, w)).toBeLessThan(1e-4 * maxAbs(w));
        }
      }
    } finally {
      exec.dispose();
    }
    // the first forward starts from zeros; every later one gets the residual the one before left (the dense step's
    // dense − sparse, then passed on unchanged by the pruned steps)
    carries.forEach((name, i) => {
      expect(maxAbs(calls[0]!.inputs[name]!)).toBe(0);
      const r = calls[0]!.outputs[1 + i]!;
      expect(maxAbs(r)).toBeGreaterThan(0); // a residual, or lists that hold tiles other than 0
      for (const c of [1, 2]) expect(Array.from(calls[c]!.inputs[name]!)).toEqual(Array.from(calls[c - 1]!.outputs[1 + i]!));
      expect(Array.from(calls[2]!.outputs[1 + i]!)).toEqual(Array.from(r));
    });
  });
});
