import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { evalCommand } from '../../../compiler/commands/eval.ts';
import { compileModel } from '../../../compiler/compile/compile-model.ts';
import { runEval } from '../../../compiler/generate/eval-run.ts';
import { writeEvalDir } from '../../../compiler/generate/eval-write.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import type { LoadedModel } from '../../../compiler/models.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { narrowTiny } from '../model/narrow-tiny.ts';

// 2 blocks at reduced width over the full 16×32×32 clip (the metrics score only that shape)
const CFG = narrowTiny();
const root = mkdtempSync(join(tmpdir(), 'vdit-eval-quant-'));
const gpu = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(root, { recursive: true, force: true });
});

function model(): LoadedModel {
  const graph = buildDiT(CFG);
  return { name: 'tiny-2', graph, weights: seededWeights(graph, 5), config: CFG, weightsFrom: 'seed 5' };
}

const OPTS = { set: 'quick', backend: 'cpu', dtype: 'f32', steps: 2, cfg: 2, batch: 4 } as const;
const fpDir = join(root, 'fp');

async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return await f();
  } finally {
    spy.mockRestore();
  }
}

describe('eval --quant', () => {
  it('runs the quantized build, records its setting and ratio, and differs from FP by a small error', async () => {
    const fp = await runEval(model(), OPTS);
    expect(fp.result.settings.quant).toBeUndefined();
    writeEvalDir(fpDir, fp);
    const q = await runEval(model(), { ...OPTS, reference: fpDir, quant: { setting: 'W4A6', method: 'rtn', keepFp: [] } });
    expect(q.result.settings.quant).toMatchObject({
      setting: 'w4a6', method: 'rtn', keepFp: [],
      pipeline: 'canonicalize,insert-qdq{quant=w4a6,profile=deploy},fuse-int4-gemm,dce,fuse-elementwise',
    });
    // the narrow test model is mostly embedders, which stay FP16
    expect(q.result.settings.quant!.compressionRatio).toBeGreaterThan(1.5);
    // quantization changes the clips (finite PSNR, SSIM < 1) but keeps them near FP: measured 92 dB, since the
    // seeded (std 0.02) denoiser moves 2-step clips only a little away from their noise
    const ref = q.result.reference!;
    expect(ref.matched).toBe(8);
    expect(Number.isFinite(ref.psnr)).toBe(true);
    expect(ref.psnr).toBeGreaterThan(60);
    expect(ref.ssim).toBeGreaterThan(0.999);
    expect(ref.ssim).toBeLessThan(1);
  });

  it('CLI: --keep-fp keeps the adaLN linears FP (lower ratio) and result.json says so', async () => {
    const out = join(root, 'keep');
    const args = { ...OPTS, model: 'unused', output: out, json: true, verbose: false };
    const loaded = model();
    const spy = vi.spyOn(await import('../../../compiler/models.ts'), 'loadModel');
    spy.mockReturnValue(loaded);
    await quiet(() => evalCommand.handler({ ...args, quant: 'w4a6', keepFp: '**.adaLN_modulation.*' }));
    spy.mockRestore();
    const r = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(r.settings.quant.keepFp).toEqual(['**.adaLN_modulation.*']);
    expect(r.settings.quant.pipeline).toContain('keep-fp="**.adaLN_modulation.*"');
    const byDefault = (await import('../../../compiler/compile/quant-build.ts')).describeBuild(loaded.graph, 'w4a6', 'rtn');
    expect(r.settings.quant.compressionRatio).toBeLessThan(byDefault.compressionRatio - 0.1);
    await expect(evalCommand.handler({ ...args, model: 'tiny', keepFp: 'x.*' })).rejects.toThrow('--keep-fp needs --quant');
    await expect(evalCommand.handler({ ...args, model: 'tiny', weights: 'seeded', quant: 'w3a3' }))
      .rejects.toThrow("--quant 'w3a3' is not one of w4a6, w4a8, w8a8, w4a4, w4a8-fp8, none");
  });

  it.skipIf(!gpu)('a compiled folder evaluates as it is, at its own batch, and records its build', async () => {
    const graph = buildDiT({ ...CFG, batch: 2 });
    const dir = join(root, 'compiled');
    compileModel(graph, model().weights, { quant: 'w4a8', method: 'rtn', gpu: gpu!, modelName: 'tiny-2', classes: 49 }, dir);
    const out = join(root, 'compiled-eval');
    const base = { ...OPTS, backend: 'wgsl' as const, model: dir, output: out, json: true, verbose: false };
    const { batch: _, ...noBatch } = base;
    await quiet(() => evalCommand.handler({ ...noBatch, steps: 1 }));
    const r = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(r.model).toBe('tiny-2');
    expect(r.settings.batch).toBe(1);
    expect(r.settings.quant).toMatchObject({ setting: 'w4a8', method: 'rtn', keepFp: [] });
    expect(r.settings.quant.compressionRatio).toBeGreaterThan(1.5);
    await expect(evalCommand.handler({ ...base, steps: 1 })).rejects.toThrow(/compiled for 1 clip\(s\) per forward/);
    await expect(evalCommand.handler({ ...noBatch, steps: 1, quant: 'w4a6' })).rejects.toThrow(/drop --quant/);
  });
});
