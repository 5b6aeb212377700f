import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePrune, pruneFromStore } from '../../../compiler/commands/compile-calibration.ts';
import { compileModel } from '../../../compiler/compile/compile-model.ts';
import { seededInputs } from '../../../compiler/inputs.ts';
import { modelDims } from '../../../compiler/model/config.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { loadModel } from '../../../compiler/models.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { samplerBounds } from '../../../passes/prune-schedule.ts';
import { pruneTokens } from '../../../passes/prune-tokens.ts';
import { createCompiledExecutor, type CompiledManifest } from '../../../runtime/compiled-executor.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { runReference } from '../../../runtime/reference.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';

describe('--prune select=online', () => {
  it('parses keep, tile and select; online needs no store', () => {
    expect(parsePrune('keep=0.5,select=online')).toEqual({ keeps: [0.5], tile: 64, online: true });
    expect(parsePrune('keep=0.25,select=online,tile=32')).toEqual({ keeps: [0.25], tile: 32, online: true });
    expect(parsePrune('keep=0.5,select=store')).toEqual({ keeps: [0.5], tile: 64 });
    expect(() => parsePrune('keep=0.5,select=dynamic')).toThrow(/select must be store or online, got 'dynamic'/);
    expect(() => parsePrune('select=online')).toThrow(/one of keep, schedule/);
    expect(pruneFromStore(parsePrune('keep=0.5,select=online,tile=16'), undefined))
      .toEqual({ keep: 0.5, tile: 16, keepFirst: 0, online: true });
    expect(() => pruneFromStore(parsePrune('keep=0.5'), undefined)).toThrow(/--calib-store <dir> .* or select=online/);
  });

  it('keeps a joint model\'s leading text tokens (the class-conditioned tiny has none)', () => {
    const tiny = loadModel('tiny');
    const o = pruneFromStore(parsePrune('keep=0.5,select=online'), undefined, tiny) as { keepFirst: number };
    expect(tiny.config?.block).toBe('joint');
    expect(o.keepFirst).toBe(modelDims(tiny.config!).textTokens);
  });
});

describe('--prune schedule=…,select=online', () => {
  it('parses a schedule and splits the default sampler\'s 30 steps (no store)', () => {
    expect(parsePrune('schedule=1/0.5/0.25,select=online,tile=16')).toEqual({ keeps: [1, 0.5, 0.25], tile: 16, online: true });
    expect(() => parsePrune('schedule=1/0/0.5,select=online')).toThrow(/keep must be in \(0, 1\]/);
    // FxN: N entries of F
    expect(parsePrune('schedule=1x3/0.25x2/1/0.5,select=online').keeps).toEqual([1, 1, 1, 0.25, 0.25, 1, 0.5]);
    expect(() => parsePrune('schedule=1x0/0.5,select=online')).toThrow(/a schedule repeat must be a positive integer/);
    expect(() => parsePrune('schedule=1x2x3,select=online')).toThrow(/schedule entry '1x2x3' is not F or FxN/);
    expect(() => parsePrune('schedule=0.5x,select=online')).toThrow(/a schedule repeat must be a positive integer, got ''/);
    expect(() => parsePrune('keep=0.5,schedule=1/0.5,select=online')).toThrow(/one of keep, schedule/);
    expect(pruneFromStore(parsePrune('schedule=1/0.5/0.25,select=online,tile=16'), undefined))
      .toEqual({ keeps: [1, 0.5, 0.25], bounds: samplerBounds(3), tile: 16, keepFirst: 0, online: true });
    // one entry is the plain budget
    expect(pruneFromStore(parsePrune('schedule=0.5,select=online'), undefined)).toEqual({ keep: 0.5, tile: 64, keepFirst: 0, online: true });
  });

  it('parses qtile (online only) and the dense blocks, and refuses bad values', () => {
    expect(parsePrune('schedule=1/0.5,select=online,qtile=128,dense=0/7'))
      .toEqual({ keeps: [1, 0.5], tile: 64, online: true, qtile: 128, dense: [0, 7] });
    expect(pruneFromStore(parsePrune('keep=0.5,select=online,qtile=128,dense=0'), undefined))
      .toEqual({ keep: 0.5, tile: 64, keepFirst: 0, online: true, qtile: 128, dense: [0] });
    expect(() => parsePrune('keep=0.5,qtile=128')).toThrow(/qtile needs select=online/);
    expect(() => parsePrune('keep=0.5,select=online,qtile=0')).toThrow(/qtile must be a positive integer, got '0'/);
    expect(() => parsePrune('keep=0.5,select=online,dense=0/x')).toThrow(/dense must be a non-negative integer, got 'x'/);
    expect(() => parsePrune('keep=0.5,tile=')).toThrow(/tile must be a positive integer, got ''/);
  });

  it('parses cache=residual|frozen|lazy (online schedules only) into the pass option residual', () => {
    expect(parsePrune('schedule=1/0.25/0.25,select=online,cache=residual'))
      .toEqual({ keeps: [1, 0.25, 0.25], tile: 64, online: true, residual: true });
    expect(parsePrune('schedule=1/0.25,select=online,cache=none')).toEqual({ keeps: [1, 0.25], tile: 64, online: true });
    expect(pruneFromStore(parsePrune('schedule=1/0.25,select=online,cache=residual'), undefined))
      .toEqual({ keeps: [1, 0.25], bounds: samplerBounds(2), tile: 64, keepFirst: 0, online: true, residual: true });
    expect(parsePrune('schedule=1/0.25,select=online,cache=frozen'))
      .toEqual({ keeps: [1, 0.25], tile: 64, online: true, residual: 'frozen' });
    expect(parsePrune('schedule=1/0.25,select=online,cache=lazy'))
      .toEqual({ keeps: [1, 0.25], tile: 64, online: true, residual: 'lazy' });
    expect(() => parsePrune('schedule=1/0.25,select=online,cache=kv')).toThrow(/cache must be none, residual, frozen or lazy, got 'kv'/);
    expect(() => parsePrune('keep=0.5,select=online,cache=residual')).toThrow(/cache=residual needs select=online and a schedule/);
    expect(() => parsePrune('schedule=1/0.5,cache=residual')).toThrow(/cache=residual needs select=online/);
  });
});

const gpu = await openDevice().catch(() => undefined);
const OUT = mkdtempSync(join(tmpdir(), 'vdit-online-sched-'));
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(OUT, { recursive: true, force: true });
});

describe.skipIf(!gpu)('a compiled tiny model with --prune schedule=1/0.5,select=online (WebGPU; skipped without)', () => {
  it('runs dense in the early range and pruned in the late one, matching the reference of each', async () => {
    const cfg = narrowTinySmallClip(2);
    const graph = buildDiT(cfg);
    const weights = seededWeights(graph, 7);
    const prune = pruneFromStore(parsePrune('schedule=1/0.5,select=online,tile=4'), undefined);
    const dir = join(OUT, 'sched');
    const report = compileModel(graph, weights, { quant: 'none', method: 'rtn', gpu: gpu!, modelName: 'narrow',
      classes: cfg.classes!, calibration: { prune } }, dir);
    const total = report.pruning![0]!.totalTiles;
    expect(report.pruning!.map((b) => [b.online?.tilesPerRange, b.keptFraction])).toEqual([0, 1].map(() => [[total, total / 2], 0.75]));
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
    expect(manifest.kernels.filter((k) => k.name === 'tile_select').length).toBeGreaterThan(0);
    const exec = await createCompiledExecutor(gpu!.device, manifest, new Uint8Array(readFileSync(join(dir, 'weights.bin'))),
      (f) => readFileSync(join(dir, f), 'utf8'));
    const inputs = seededInputs(graph, 5);
    const at = (t: number[]) => ({ ...inputs, t: tensor(inputs['t']!.type, Float32Array.from(t)) });
    const gpuAt = async (t: number[]) => (await exec.run({ x: inputs['x']!.data, t: Float32Array.from(t), y: inputs['y']!.data }))[0]!;
    const pruned = pruneTokens(graph, prune).graph;
    const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));
    try {
      const early = await gpuAt([0.9, 0.7]);
      const late = await gpuAt([0.2, 0.1]);
      const denseEarly = runReference(graph, at([0.9, 0.7]), weights)[0]!.data;
      const denseLate = runReference(graph, at([0.2, 0.1]), weights)[0]!.data;
      const prunedLate = runReference(pruned, at([0.2, 0.1]), weights)[0]!.data;
      // f32 on the GPU against the f64-accumulating reference (measured ~1e-7; outputs up to ~0.6)
      const tol = 1e-6;
      expect(maxDiff(early, denseEarly)).toBeLessThan(tol);
      expect(maxDiff(late, prunedLate)).toBeLessThan(tol);
      // half the key tiles late: the seeded model's small attention branch moves the output ~1e-4
      expect(maxDiff(late, denseLate)).toBeGreaterThan(20 * tol);
    } finally {
      exec.dispose();
    }
  }, 600_000);
});
