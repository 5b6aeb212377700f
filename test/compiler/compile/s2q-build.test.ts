import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileModel, lowerForCompile } from '../../../compiler/compile/compile-model.ts';
import { s2qBuild } from '../../../compiler/compile/s2q-build.ts';
import { seededInputs } from '../../../compiler/inputs.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { createCompiledExecutor, type CompiledManifest } from '../../../runtime/compiled-executor.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { runReference } from '../../../runtime/reference.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';
import { parsePrune } from '../../../compiler/commands/compile-calibration.ts';
import { StoreReader } from '../../../compiler/calib/store.ts';
import { importanceFromStore } from '../../../passes/prune-tokens.ts';

describe('--prune option', () => {
  it('parses keep and tile, and refuses the rest', () => {
    expect(parsePrune('keep=0.25')).toEqual({ keeps: [0.25], tile: 64 });
    expect(parsePrune('keep=0.5,tile=32')).toEqual({ keeps: [0.5], tile: 32 });
    expect(parsePrune('schedule=1/0.5/0.25,tile=16')).toEqual({ keeps: [1, 0.5, 0.25], tile: 16 });
    expect(() => parsePrune('schedule=1/0/0.5')).toThrow(/keep must be in \(0, 1\]/);
    expect(() => parsePrune('keep=0.5,schedule=1/0.5')).toThrow(/one of keep, schedule/);
    expect(() => parsePrune('tile=8')).toThrow(/one of keep, schedule/);
    expect(() => parsePrune('keep=0')).toThrow(/keep must be in \(0, 1\]/);
    expect(() => parsePrune('keep=0.5,tile=3.5')).toThrow(/tile/);
    expect(() => parsePrune('ratio=0.5')).toThrow(/unknown option 'ratio'/);
  });
});

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OUT = join(ROOT, 'out', `test-s2q-${process.pid}`);
const gpu = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(OUT, { recursive: true, force: true });
});

// one narrow block keeps the distillation graphs (and lavapipe's shader compiles) small
const cfg = { ...narrowTinySmallClip(2), depth: 1 };
const graph = buildDiT(cfg);
const weights = seededWeights(graph, 7);

describe.skipIf(!gpu)('--method s2q end to end on the WebGPU adapter, reduced budget (skipped without one)', () => {
  it('records trajectories, selects by SDS, distils every block on the GPU and compiles a folder that runs', async () => {
    const store = join(OUT, 'calib');
    const steps: number[] = [];
    const s2q = await s2qBuild({
      cfg, graph, weights, modelName: 'narrow', quant: 'w4a6', gpu: gpu!, prompts: 2, steps: 2, samples: 2, epochs: 2,
      store, onStep: (i) => steps.push(i),
    });
    expect(existsSync(join(store, 'manifest.json'))).toBe(true);
    expect(s2q.samples).toBe(2);
    expect(s2q.strategy).toBe('sds');
    // 1 block × 2 epochs × one step of 4 records (2 samples × cond/uncond)
    expect(steps.length).toBe(2);
    for (const b of s2q.blocks) expect(Number.isFinite(b.lastLoss!)).toBe(true);
    const dir = join(OUT, 'w4a6');
    const report = compileModel(graph, weights, {
      quant: 'w4a6', method: 's2q', gpu: gpu!, modelName: 'narrow', classes: 49,
      calibration: { model: s2q.model, ms: s2q.ms, inputs: s2q.samples }, calibrationReport: { strategy: s2q.strategy },
    }, dir);
    expect(report.methodReport.onlineRotations).toBe(4);
    const saved = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { calibration: { strategy: string } };
    expect(saved.calibration.strategy).toBe('sds');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
    expect(manifest.kernels.some((k) => k.name.startsWith('qgemm'))).toBe(true);
    const clipped = manifest.kernels.filter((k) => /q_div\(mx, 3[12]\.\d+/.test(readFileSync(join(dir, k.file), 'utf8')));
    expect(clipped.length).toBeGreaterThan(0);
    const exec = await createCompiledExecutor(gpu!.device, manifest, new Uint8Array(readFileSync(join(dir, 'weights.bin'))),
      (f) => readFileSync(join(dir, f), 'utf8'));
    const inputs = seededInputs(graph, 3);
    const got = (await exec.run({ x: inputs['x']!.data, t: inputs['t']!.data, y: inputs['y']!.data }))[0]!;
    exec.dispose();
    const fp = runReference(graph, inputs, weights)[0]!.data;
    let [num, den] = [0, 0];
    got.forEach((v, i) => {
      num += (v - fp[i]!) ** 2;
      den += fp[i]! ** 2;
    });
    expect(Math.sqrt(num / den)).toBeLessThan(0.2);
  }, 600_000);

  it('--prune: sparse attention over the store\'s most important key tiles, in the compiled folder too', async () => {
    const store = StoreReader.open(join(OUT, 'calib'));
    const prune = { keep: 0.5, tile: 8, importance: importanceFromStore(store), keepFirst: store.manifest.textTokens };
    const dir = join(OUT, 'pruned');
    const report = compileModel(graph, weights, { quant: 'w4a8', method: 'rtn', gpu: gpu!, modelName: 'narrow', classes: 49,
      calibration: { prune } }, dir);
    expect(report.pruning!.map((b) => [b.ranges[0]!.keptTiles.length, b.totalTiles, b.keptFraction])).toEqual([[2, 4, 0.5]]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
    expect(manifest.kernels.some((k) => k.name.includes('sparse'))).toBe(true);
    const low = lowerForCompile(graph, weights, 'w4a8', gpu!, [], 'rtn', { prune });
    const inputs = seededInputs(graph, 5);
    const want = runReference(low.graph, inputs, low.weights)[0]!.data;
    const d = lowerForCompile(graph, weights, 'w4a8', gpu!);
    const dense = runReference(d.graph, inputs, d.weights)[0]!.data;
    const exec = await createCompiledExecutor(gpu!.device, manifest, new Uint8Array(readFileSync(join(dir, 'weights.bin'))),
      (f) => readFileSync(join(dir, f), 'utf8'));
    const got = (await exec.run({ x: inputs['x']!.data, t: inputs['t']!.data, y: inputs['y']!.data }))[0]!;
    exec.dispose();
    let [err, moved] = [0, 0];
    got.forEach((v, i) => {
      err = Math.max(err, Math.abs(v - want[i]!));
      moved = Math.max(moved, Math.abs(want[i]! - dense[i]!));
    });
    expect(err).toBeLessThan(1e-3);
    expect(moved).toBeGreaterThan(err);
  }, 300_000);

  it('--no-sds reuses the store and selects uniform timesteps; --no-std trains on plain MSE', async () => {
    const store = join(OUT, 'calib');
    const s = await s2qBuild({
      cfg, graph, weights, modelName: 'narrow', quant: 'w4a4', gpu: gpu!, samples: 2, epochs: 1, store, sds: false, std: false,
    });
    expect(s.strategy).toBe('uniform-t');
    await expect(s2qBuild({ cfg, graph, weights, modelName: 'other', quant: 'w4a4', gpu: gpu!, store }))
      .rejects.toThrow(/store of 'narrow', not 'other'/);
  }, 600_000);
});
