import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceOf, type KernelResult } from '../../../compiler/compare/check-kernel.ts';
import type { CompareReport } from '../../../compiler/compare/compare-run.ts';
import { renderCompareHtml } from '../../../compiler/compare/compare-html.ts';
import {
  cudaColumn, NEEDS_CUDA, rowSeed, runCudaRows, type CudaRun,
} from '../../../compiler/compare/cuda-column.ts';
import { cudaCell, formatCompare } from '../../../compiler/compare/format-compare.ts';
import { kernelRows } from '../../../compiler/compare/kernel-rows.ts';
import { kernelOperands } from '../../../compiler/compare/operands.ts';
import { f16AttentionTolerance, toleranceFor } from '../../../compiler/compare/tolerance.ts';
import { lowerQuantized } from '../../../compiler/compile/quant-build.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { cudaUnavailable } from '../../../runtime/cuda-build.ts';
import { planWgsl } from '../../../runtime/wgsl-program.ts';
import { lowerNode } from '../../../targets/wgsl/select.ts';
import { DEFAULT_CAPS } from '../../../targets/target.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';
import { GXX } from '../../targets/cuda/emulate/emulate.ts';

const SHIM = join(dirname(fileURLToPath(import.meta.url)), '../../targets/cuda/emulate/cuda-host.h');
const cache = mkdtempSync(join(tmpdir(), 'vdit-compare-cuda-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

// the compare rows of a one-block w4a8 DiT, planned with the default caps (no Dawn device needed)
const fp = buildDiT({ ...narrowTinySmallClip(2), depth: 1 });
const { graph } = lowerQuantized(fp, seededWeights(fp, 13), 'w4a8');
const rows = kernelRows(planWgsl(graph, { elem: 'f32', caps: DEFAULT_CAPS }, lowerNode));

function result(i: number, cuda: KernelResult['cuda']): KernelResult {
  const r = rows[i]!;
  return { index: r.index, name: r.name, op: r.op, shape: r.shape, count: r.count, tolerance: toleranceFor(r.node),
    opKind: r.op === 'qgemm' ? 'int' : 'float', maxAbsError: 0, maxRelError: 0, violations: 0, elements: 1, ok: true,
    ms: 1, cuda };
}

describe('CUDA columns without a CUDA device', () => {
  it.skipIf(cudaUnavailable() === undefined)('say why, per row, and the report says it once', async () => {
    const run = await runCudaRows(rows, { seed: 0, warmup: 0, repeats: 1 });
    expect(typeof run).toBe('string');
    const col = cudaColumn(rows[0]!, run, undefined, toleranceFor(rows[0]!.node));
    expect(col.status).toBe(`${NEEDS_CUDA}: ${run as string}`);
    expect(col.ms).toBeNull();
    expect(cudaCell(result(0, col))).toBe('needs runtime');
  });
});

describe.skipIf(!GXX)('CUDA columns on the CPU emulation (needs g++)', () => {
  let run: CudaRun | string;

  it('one runner checks every row with a CUDA kernel on the WGSL column\'s operands, within its tolerance', async () => {
    run = await runCudaRows(rows, { seed: 4, warmup: 0, repeats: 2, emulate: SHIM, cacheDir: cache });
    if (typeof run === 'string') throw new Error(run);
    expect(run.device).toContain('CPU emulation');
    const cols = rows.map((r) => {
      const want = referenceOf(r.node, kernelOperands(r.node, rowSeed(4, r)));
      return cudaColumn(r, run, want, toleranceFor(r.node), { card: 'x', match: /x/, int8Tops: 1, bf16Tflops: 1 });
    });
    expect(rows.some((r) => r.op === 'qgemm')).toBe(true);
    // the attention rows run the f16 tensor-core kernel: held to the f16-input bound, the rest to the WGSL one
    const attn = rows.findIndex((r) => r.op === 'attention');
    expect(cols[attn]!.tolerance).toEqual(f16AttentionTolerance(rows[attn]!.node));
    expect(cols.filter((c) => c.tolerance).length).toBe(rows.filter((r) => r.op.endsWith('attention')).length);
    cols.forEach((c, i) => {
      expect(c.entry, rows[i]!.name).toBeDefined();
      expect(c.status, `${rows[i]!.name} ${rows[i]!.shape}`).toBe('ok');
      expect(c.ok).toBe(true);
      expect(c.maxAbsError).toBeGreaterThanOrEqual(0);
      expect(c.ms).toBeGreaterThanOrEqual(0);
      expect(c.pctPeak).toBeUndefined();  // emulated: no card ceiling
    });
    expect(cols.some((c) => c.maxAbsError! > 0 || c.tops !== undefined)).toBe(true);

    const results = cols.map((c, i) => result(i, c));
    const report: CompareReport = {
      model: 'narrow', quant: 'w4a8', method: 'rtn', adapter: 'llvmpipe', softwareAdapter: true, seed: 4, warmup: 0,
      repeats: 2, dispatches: rows.length, rows: results, cuda: { device: run.device, emulated: true },
    };
    const text = formatCompare(report);
    expect(text).toContain(`in one runner on ${run.device} (CPU emulation`);
    expect(text).toContain(`CUDA: ${rows.length}/${rows.length}`);
    expect(cudaCell(results[0]!)).toMatch(/^\S+ · \S+$/);
    expect(renderCompareHtml(report)).toContain(cudaCell(results[0]!));
  }, 600_000);

  it('a result off the reference is an OFF cell with the count', () => {
    const r = rows[0]!;
    const operands = kernelOperands(r.node, rowSeed(4, r));
    const want = referenceOf(r.node, operands);
    const shifted = { ...want, data: Float32Array.from(want.data as Float32Array, (v) => v + 1) };
    const fake: CudaRun = { device: 'd', emulated: true, outputs: new Map([[r.index, shifted]]), ms: new Map([[r.index, 1]]) };
    const c = cudaColumn(r, fake, want, toleranceFor(r.node));
    expect(c.ok).toBe(false);
    expect(c.status).toMatch(/^OFF \(\d+\/\d+\)$/);
    expect(cudaCell(result(0, c))).toMatch(/^OFF \(\d+\/\d+\) /);
  });
});
