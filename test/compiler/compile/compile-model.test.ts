import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compileModel, lowerForCompile, type CompileReport } from '../../../compiler/compile/compile-model.ts';
import { seededInputs } from '../../../compiler/inputs.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { roundF16 } from '../../../compiler/weights/f16.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import type { Weights } from '../../../compiler/weights/weights.ts';
import { createCompiledExecutor, type CompiledManifest } from '../../../runtime/compiled-executor.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { WgslExecutor } from '../../../runtime/executor.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin/vdit.js');
const run = promisify(execFile);
// under the repo (out/ is gitignored) so run.js resolves webgpu from the repo's node_modules
const OUT = join(ROOT, 'out', `test-compile-${process.pid}`);

const gpu = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(OUT, { recursive: true, force: true });
});

// 2 narrow blocks over 2×4×4 tokens: fast on lavapipe, still every kernel kind of the tiny model
const cfg = narrowTinySmallClip(2);
const graph = buildDiT(cfg);
// f16-exact FP params, as trained weights are: the folder stores them as halves and widens them on upload
const seeded = seededWeights(graph, 7);
const weights: Weights = {
  get: (name) => {
    const t = seeded.get(name);
    return t && t.data instanceof Float32Array ? tensor(t.type, t.data.map(roundF16)) : t;
  },
  names: () => seeded.names(),
};

describe.skipIf(!gpu)('compileModel (skipped without a WebGPU adapter)', () => {
  const dir = join(OUT, 'w4a6');
  let report: CompileReport;
  const compiled = (): { manifest: CompiledManifest; bin: Uint8Array } => ({
    manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest,
    bin: new Uint8Array(readFileSync(join(dir, 'weights.bin'))),
  });

  it('writes a self-contained folder: weights, manifest, one file per kernel, run.js, package.json, report', () => {
    report = compileModel(graph, weights, { quant: 'w4a6', method: 'rtn', gpu: gpu!, modelName: 'test-tiny', classes: 49 }, dir);
    const { manifest, bin } = compiled();
    expect(bin.byteLength).toBe(manifest.weightsBytes);
    expect(manifest.kernels.length).toBe(report.kernels);
    expect(new Set(manifest.kernels.map((k) => k.file)).size).toBe(manifest.kernels.length);
    for (const k of manifest.kernels) expect(readFileSync(join(dir, k.file), 'utf8')).toContain(`fn ${k.entry}`);
    expect(manifest.buffers.some((b) => b.kind === 'param' && b.dtype === 'i4')).toBe(true);
    const params = manifest.buffers.filter((b) => b.kind === 'param');
    expect(params.some((b) => b.stored === 'f16' && b.size! * 2 === b.bytes)).toBe(true);
    expect(params.filter((b) => b.label.endsWith('.scale')).every((b) => b.stored === undefined)).toBe(true);
    expect(manifest.kernels.some((k) => k.name.startsWith('qgemm'))).toBe(true);
    expect(manifest.model).toMatchObject({ clipShape: [4, 16, 16, 3], batch: 2, nullClass: 48 });
    expect(manifest.model.classNames[5]).toBe('green circle left');
    expect(manifest.inputs.map((i) => i.name).sort()).toEqual(['t', 'x', 'y']);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies).toEqual({ webgpu: '0.6.2' });
    const runJs = readFileSync(join(dir, 'run.js'), 'utf8');
    const specifiers = [...runJs.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]!);
    expect(specifiers.filter((s) => !s.startsWith('node:')).sort()).toEqual(['./vendor/gifenc.mjs', 'webgpu']);
    expect(readFileSync(join(dir, 'vendor/gifenc.mjs'), 'utf8')).toMatch(/^\/\/ gifenc 1\.0\.3 .*\n.*GIFEncoder/s);
    expect(readFileSync(join(dir, 'vendor/gifenc.LICENSE.md'), 'utf8')).toMatch(/MIT/);
    expect(runJs).toContain('function gaussianNoise');
    expect(runJs).not.toMatch(/interface CompiledManifest|: Float32Array\b/);
  });

  it('reports compression (scales included), per-layer error, kernels and the pipeline', () => {
    const saved = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as CompileReport;
    const t = saved.quantization.totals;
    expect(t.compressionRatio).toBeGreaterThan(1.2);
    expect(t.storedBytes).toBeLessThan(t.fp16Bytes);
    // 2 blocks × (4 attention + 2 MLP) at w4a6, plus the 3 adaLN linears (2 blocks + final layer) at w4a8
    expect(saved.quantization.layers.length).toBe(15);
    const adaLN = saved.quantization.layers.filter((l) => l.layer.includes('adaLN_modulation'));
    expect(adaLN.map((l) => `${l.layer}:w${l.wBits}a${l.aBits}`)).toEqual(
      ['blocks.0', 'blocks.1', 'final_layer'].map((b) => `${b}.adaLN_modulation.1:w4a8`));
    for (const l of saved.quantization.layers) expect(l.relError).toBeGreaterThan(0);
    expect(saved.pipeline).toBe('canonicalize,insert-qdq{quant=w4a6,profile=deploy},fuse-int4-gemm,dce,fuse-elementwise');
    expect(saved.keepFp).toEqual([]);
    expect(saved.kernels).toBeGreaterThan(5);
    expect(saved.compileMs).toBeGreaterThan(0);
  });

  it('the manifest-driven executor equals WgslExecutor on the same quantized graph (≤ 1e-6)', async () => {
    const { manifest, bin } = compiled();
    const lowered = lowerForCompile(graph, weights, 'w4a6', gpu!);
    const inputs = seededInputs(graph, 3);
    const ref = await WgslExecutor.create(gpu!, lowered.graph, lowered.weights, { elem: 'f32' });
    const want = (await ref.run(inputs)).outputs[0]!.data as Float32Array;
    ref.dispose();
    const exec = await createCompiledExecutor(gpu!.device, manifest, bin, (f) => readFileSync(join(dir, f), 'utf8'));
    const got = (await exec.run({ x: inputs['x']!.data, t: inputs['t']!.data, y: inputs['y']!.data }))[0]!;
    exec.dispose();
    expect(got.length).toBe(want.length);
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1e-6);
    expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0);
  });

  it('node run.js writes the same GIF, byte for byte, as `vdit generate <folder>`', async () => {
    const a = join(OUT, 'run.gif');
    const b = join(OUT, 'generate.gif');
    const args = ['--class', '3', '--seed', '1', '--steps', '2', '-o'];
    await Promise.all([
      run('node', [join(dir, 'run.js'), ...args, a], { timeout: 120_000 }),
      run('node', [BIN, 'generate', dir, ...args, b], { timeout: 120_000 }),
    ]);
    const gif = readFileSync(a);
    expect(gif.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expect(Buffer.compare(gif, readFileSync(b))).toBe(0);
  }, 240_000);

  it('--quant none keeps every linear FP (ratio 1), and recompiling replaces the folder', () => {
    compileModel(graph, weights, { quant: 'w8a8', method: 'rtn', gpu: gpu!, modelName: 'fp' }, join(OUT, 'fp'));
    const r = compileModel(graph, weights, { quant: 'none', method: 'rtn', gpu: gpu!, modelName: 'fp' }, join(OUT, 'fp'));
    expect(r.quantization.totals.compressionRatio).toBe(1);
    expect(r.pipeline).toBe('canonicalize,dce,fuse-elementwise');
    const m = JSON.parse(readFileSync(join(OUT, 'fp', 'manifest.json'), 'utf8')) as CompiledManifest;
    expect(m.quant).toBe('none');
    expect(m.buffers.some((b) => b.dtype === 'i4' || b.dtype === 'i8')).toBe(false);
  });

  it('CLI on the seeded tiny model: W4A6 ≥ 3.5× smaller than FP16 by default, < 2× with --keep-fp adaLN', async () => {
    const ratio = async (dir: string, ...extra: string[]): Promise<CompileReport> => {
      const args = [BIN, 'compile', 'tiny', '--quant', 'w4a6', '--weights', 'seeded', '--json', '-o', dir, ...extra];
      return JSON.parse((await run('node', args, { timeout: 240_000 })).stdout) as CompileReport;
    };
    const deploy = await ratio(join(OUT, 'tiny'));
    const lineage = await ratio(join(OUT, 'tiny-lineage'), '--keep-fp', '**.adaLN_modulation.*');
    expect(deploy.quantization.totals.compressionRatio).toBeGreaterThanOrEqual(3.5);
    expect(lineage.quantization.totals.compressionRatio).toBeLessThan(2);
    expect(lineage.keepFp).toEqual(['**.adaLN_modulation.*']);
    expect(lineage.quantization.layers.some((l) => l.layer.includes('adaLN'))).toBe(false);
  }, 480_000);

  it('a bad --quant or --method is a clear error, and nothing is written', async () => {
    const bad = join(OUT, 'bad');
    expect(() => compileModel(graph, weights, { quant: 'w3a3', method: 'rtn', gpu: gpu!, modelName: 'x' }, bad))
      .toThrow("--quant 'w3a3' is not one of w4a6, w4a8, w8a8, w4a4, w4a8-fp8, none");
    expect(() => compileModel(graph, weights, { quant: 'w4a6', method: 'awq', gpu: gpu!, modelName: 'x' }, bad))
      .toThrow("--method 'awq' is not one of rtn, smoothquant, quarot, viditq, gptq");
    expect(existsSync(bad)).toBe(false);
    const cli = await run('node', [BIN, 'compile', 'tiny', '--quant', 'w5a5', '-o', bad]).catch((e: unknown) => e);
    const { code, stderr } = cli as { code: number; stderr: string };
    expect(code).not.toBe(0);
    expect(stderr).toContain("vdit: error: --quant 'w5a5' is not one of w4a6, w4a8, w8a8, w4a4, w4a8-fp8, none");
  });
});
