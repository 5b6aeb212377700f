import { afterAll, describe, expect, it } from 'vitest';
import { timeKernel } from '../../../compiler/bench/time-kernel.ts';
import { checkKernel, referenceOf, type KernelResult } from '../../../compiler/compare/check-kernel.ts';
import { buildCompareOf, runCompare, type CompareBuild } from '../../../compiler/compare/compare-run.ts';
import { errorStats } from '../../../compiler/compare/error-stats.ts';
import type { KernelRow } from '../../../compiler/compare/kernel-rows.ts';
import { kernelOperands } from '../../../compiler/compare/operands.ts';
import { toleranceFor } from '../../../compiler/compare/tolerance.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { closeDevice, openDevice } from '../../../runtime/device.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';

const gpu = await openDevice().catch(() => undefined);
afterAll(() => {
  if (gpu) closeDevice(gpu);
});

const ONCE = { warmup: 0, repeats: 1, elem: 'f32', readOutput: true } as const;
const graph = buildDiT(narrowTinySmallClip(2));
const weights = seededWeights(graph, 3);

/** The row's kernel on `gpuOperands`, judged against the reference on `operands` (tampering one side only). */
async function judge(row: KernelRow, operands: Tensor[], gpuOperands: Tensor[]): Promise<ReturnType<typeof errorStats>> {
  const want = referenceOf(row.node, operands);
  const t = await timeKernel(gpu!, row.spec, gpuOperands, row.node.type, ONCE);
  return errorStats(t.output!, want, toleranceFor(row.node));
}

describe.skipIf(!gpu)('vdit compare on the narrow tiny model, w4a8 (skipped without a WebGPU adapter)', () => {
  let build: CompareBuild;
  let rows: readonly KernelResult[];

  it('every distinct kernel is within its tolerance of the CPU reference on seeded operands', async () => {
    build = buildCompareOf(gpu!, 'narrow-tiny', graph, weights, { quant: 'w4a8', method: 'rtn' });
    const done: number[] = [];
    const report = await runCompare(gpu!, build, { seed: 5, warmup: 1, repeats: 2, progress: (d) => done.push(d) });
    rows = report.rows;
    expect(done).toEqual(rows.map((_, i) => i + 1));
    expect(report.dispatches).toBe(build.program.steps.length);
    expect(rows.reduce((a, x) => a + x.count, 0)).toBe(build.program.steps.length);
    const ops = new Set(rows.map((x) => x.op));
    for (const op of ['qgemm', 'quantize', 'token_scale', 'attention', 'layernorm', 'rope3d', 'permute']) {
      expect(ops).toContain(op);
    }
    for (const x of rows) {
      expect(x.error, `#${x.index} ${x.name}`).toBeUndefined();
      expect(Number.isFinite(x.maxAbsError) && Number.isFinite(x.maxRelError), `#${x.index} ${x.name}`).toBe(true);
      expect(x.ok, `#${x.index} ${x.name}: ${x.violations} off, max abs ${x.maxAbsError}`).toBe(true);
      expect(x.ms).toBeGreaterThan(0);
      // no GPU here: the runner is not started, and the column says why (cuda-column.test.ts runs it emulated)
      expect(x.cuda.status).toMatch(/^needs CUDA runtime \(GPU \+ nvcc\)(: .+)?$|^ok$/);
    }
  });

  it('integer kernels are exact: quantize i8 values, and qgemm i32 sums at unit scales', () => {
    const quantize = rows.filter((x) => x.op === 'quantize');
    const qgemm = rows.filter((x) => x.op === 'qgemm');
    expect(quantize.length).toBeGreaterThan(0);
    for (const x of quantize) expect([x.tolerance.atol, x.tolerance.rtol, x.maxAbsError, x.intExact]).toEqual([0, 0, 0, true]);
    const plain = qgemm.filter((x) => x.intExact !== undefined);
    expect(plain.length).toBeGreaterThan(0);
    for (const x of plain) expect(x.intExact).toBe(true);
    // the GELU epilogue is not integer, so only those rows skip the unit-scale check
    for (const x of qgemm.filter((q) => q.intExact === undefined)) {
      expect(build.rows[x.index - 1]!.node.attrs['act']).toMatch(/gelu/);
    }
    expect(qgemm.every((x) => x.opKind === 'int' && x.tops! > 0)).toBe(true);
  });

  it('operands are seeded: the same seed reproduces the same errors, another seed draws new values', async () => {
    const row = build.rows.find((r) => r.op === 'layernorm')!;
    const a = await checkKernel(gpu!, row, { seed: 5, warmup: 0, repeats: 1 });
    const again = await checkKernel(gpu!, row, { seed: 5, warmup: 0, repeats: 1 });
    expect(again.maxAbsError).toBe(a.maxAbsError);
    expect(kernelOperands(row.node, 6)[0]!.data).not.toEqual(kernelOperands(row.node, 5)[0]!.data);
  });

  it('detects a wrong result: one quantized operand off by one, a perturbed float input, a corrupted reference', async () => {
    const qgemm = build.rows.find((r) => r.op === 'qgemm')!;
    const ops = kernelOperands(qgemm.node, 11, { unit: true });
    const xq = ops[0]!.data as Int8Array;
    const bumped = Int8Array.from(xq, (v, i) => (i === 3 ? (v === 127 ? 126 : v + 1) : v));
    expect((await judge(qgemm, ops, ops)).ok).toBe(true);
    const offByOne = await judge(qgemm, ops, [tensor(ops[0]!.type, bumped), ...ops.slice(1)]);
    expect(offByOne.ok).toBe(false);
    expect(offByOne.violations).toBeGreaterThan(0);

    const norm = build.rows.find((r) => r.op === 'layernorm')!;
    const x = kernelOperands(norm.node, 12);
    const nudged = Float32Array.from(x[0]!.data as Float32Array, (v, i) => (i === 0 ? v + 1e-2 : v));
    const perturbed = await judge(norm, x, [tensor(x[0]!.type, nudged), ...x.slice(1)]);
    expect(perturbed.ok).toBe(false);
    expect(perturbed.maxAbsError).toBeGreaterThan(1e-3);

    const want = referenceOf(norm.node, x);
    const t = await timeKernel(gpu!, norm.spec, x, norm.node.type, ONCE);
    const wrong = Float32Array.from(want.data as Float32Array, (v, i) => (i === 7 ? v * 1.001 + 1e-4 : v));
    const corrupted = tensor(want.type, wrong);
    expect(errorStats(t.output!, want, toleranceFor(norm.node)).ok).toBe(true);
    const bad = errorStats(t.output!, corrupted, toleranceFor(norm.node));
    expect([bad.ok, bad.violations]).toEqual([false, 1]);
  });
});
