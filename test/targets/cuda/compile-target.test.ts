import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CUDA_DIR, CUDA_INDEX } from '../../../compiler/compile/emit-cuda.ts';
import { compileModel } from '../../../compiler/compile/compile-model.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { tinyConfig } from '../../../compiler/model/presets.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { CUDA_HEADER_FILE } from '../../../targets/cuda/header.ts';

// compileModel plans the WGSL program for a device, so the folder test needs a WebGPU adapter (lavapipe will do)
const gpu = await openDevice().catch(() => undefined);
const out = mkdtempSync(join(tmpdir(), 'vdit-cuda-compile-'));
afterAll(() => {
  if (gpu) closeDevice(gpu);
  rmSync(out, { recursive: true, force: true });
});

const cfg = tinyConfig({
  depth: 1, hidden: 64, heads: 2, ffn: 128, video: [4, 16, 16, 3], timeFreqDim: 64,
  rope: { dims: [8, 12, 12], theta: 10000 }, batch: 2,
});
const graph = buildDiT(cfg);
const weights = seededWeights(graph, 11);

interface Index {
  kernels: { name: string; entry: string; file: string; grid: number[]; block: number[] }[];
  steps: { entry: string; op: string }[];
}

describe.skipIf(!gpu)('compileModel target cuda (skipped without a WebGPU adapter)', () => {
  it('writes cuda/ beside the WGSL build: the header, one .cu per kernel, and the launch index', () => {
    const dir = join(out, 'cuda-w4a8');
    compileModel(graph, weights, { quant: 'w4a8', method: 'rtn', gpu: gpu!, modelName: 't', classes: 49, target: 'cuda' }, dir);
    expect(existsSync(join(dir, 'manifest.json'))).toBe(true);
    expect(existsSync(join(dir, CUDA_DIR, CUDA_HEADER_FILE))).toBe(true);
    const index = JSON.parse(readFileSync(join(dir, CUDA_DIR, CUDA_INDEX), 'utf8')) as Index;
    for (const k of index.kernels) expect(readFileSync(join(dir, CUDA_DIR, k.file), 'utf8')).toContain(` ${k.entry}(`);
    const entries = new Set(index.kernels.map((k) => k.entry));
    expect(index.steps.every((s) => entries.has(s.entry))).toBe(true);
    expect(index.steps.some((s) => s.op === 'qgemm')).toBe(true);
  }, 120_000);

  it('writes no cuda/ for the default target', () => {
    const dir = join(out, 'wgsl');
    compileModel(graph, weights, { quant: 'none', method: 'rtn', gpu: gpu!, modelName: 't', classes: 49 }, dir);
    expect(existsSync(join(dir, CUDA_DIR))).toBe(false);
  }, 120_000);
});
