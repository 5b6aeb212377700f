import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emitCuda } from '../../../compiler/compile/emit-cuda.ts';
import { lowerQuantized } from '../../../compiler/compile/quant-build.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { tinyConfig } from '../../../compiler/model/presets.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { toposort } from '../../../ir/graph.ts';
import type { Node } from '../../../ir/node.ts';
import { buildCudaRunner } from '../../../runtime/cuda-build.ts';
import { emitCudaRunner } from '../../../targets/cuda/runner.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../../passes/pipeline.ts';
import { builtinPasses } from '../../../passes/registry.ts';
import { narrowTinySmallClip } from '../../compiler/model/narrow-tiny.ts';
import { NVCC } from './harness.ts';
import { smallTextDiT } from './small-text-dit.ts';

const cache = mkdtempSync(join(tmpdir(), 'vdit-cuda-runner-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

function quantized(cfg: Parameters<typeof buildDiT>[0]): ReturnType<typeof lowerQuantized>['graph'] {
  const g = buildDiT(cfg);
  return lowerQuantized(g, seededWeights(g, 7), 'w4a8').graph;
}

describe('runner.cu generation', () => {
  const g = quantized(narrowTinySmallClip(2));
  const e = emitCuda(g);
  const { source, spec } = emitCudaRunner(g, e);
  const order = toposort(g);
  const root = (n: Node): Node => (n.op === 'reshape' ? root(n.src[0]!) : n);

  it('holds every kernel once, one launch per step, and no include of the separate header', () => {
    expect(source.split('extern "C" __global__ void __launch_bounds__').length - 1).toBe(e.kernels.length);
    for (const k of e.kernels) expect(source).toContain(`${k.entry}_ns::${k.entry},`);
    expect(source.match(/^ {4}case \d+: VDIT_LAUNCH\(/gm)?.length).toBe(e.steps.length);
    expect(source).not.toContain('#include "vdit_cuda.cuh"');
    expect(source.match(/#define VDIT_LAUNCH/g)?.length).toBe(1);
    expect(source).toContain(`constexpr int kSteps = ${e.steps.length};`);
  });

  it('plans buffers (activations share slots, reshapes use their source\'s) and describes the pipes', () => {
    const values = new Set<Node>(g.inputs.map(root));
    for (const s of e.steps) for (const p of [...s.operands, s.node]) values.add(root(order[p]!));
    expect([...values].some((v) => v.op === 'reshape')).toBe(false);
    const plan = spec.buffers!;
    const buffers = Number(/constexpr int kBuffers = (\d+);/.exec(source)![1]);
    expect(buffers).toBeLessThan(values.size);
    expect(buffers).toBe(values.size - [...values].filter((v) => !['param', 'input'].includes(v.op)).length +
      plan.slots + g.outputs.length);
    expect(spec.deviceBytes).toBe(plan.totalBytes);
    expect(order.some((n) => n.op === 'reshape' && e.steps.some((s) => s.operands.includes(order.indexOf(n))))).toBe(true);
    const params = [...values].filter((v) => v.op === 'param');
    expect(spec.params.map((p) => p.name).sort()).toEqual(params.map((p) => p.attrs['name'] as string).sort());
    expect(spec.params.some((p) => p.dtype === 'i4')).toBe(true);
    expect(spec.inputs.map((i) => i.name)).toEqual(g.inputs.map((n) => n.attrs['name']));
    expect(spec.inputs.map((i) => i.bytes)).toEqual([2 * 4 * 16 * 16 * 3 * 4, 8, 8]);
    expect(spec.outputs).toHaveLength(1);
    expect(spec.steps).toHaveLength(e.steps.length);
  });
});

// cogvideox-2b f32 crashed ("illegal memory access"): its final layernorm (17550 rows) has the source of the first
// (17776 rows), and every launch of that source used the first one's grid, writing 226 rows past its buffer
describe('runner.cu launches each step with its own grid', () => {
  const g = runPipeline(buildDiT(smallTextDiT()), parsePipeline(DEFAULT_PIPELINE, new Map(builtinPasses())), {}).graph;
  const e = emitCuda(g);
  const { source } = emitCudaRunner(g, e);

  it('a kernel shared by norms of 37 and 32 rows launches 37 and 32 blocks', () => {
    const norms = e.steps.filter((s) => s.op === 'layernorm' && toposort(g)[s.node]!.src.length === 1);
    expect(norms.map((s) => s.grid[0])).toEqual([37, 37, 32]);
    expect(new Set(norms.map((s) => s.entry)).size).toBe(1);
    for (const s of norms) {
      const i = e.steps.indexOf(s);
      expect(source).toMatch(new RegExp(`case ${i}: VDIT_LAUNCH\\(${s.entry}_ns::${s.entry}, ${s.grid[0]}u, `));
    }
  });
});

// one nvcc build of the whole tiny model's runner: host code, tables and every kernel in one translation unit
describe.skipIf(!NVCC)('runner.cu of the tiny model (w4a8, rtn) under nvcc -arch=sm_90a (needs nvcc)', () => {
  it('builds an executable', () => {
    const g = quantized(tinyConfig({ batch: 2 }));
    const { source } = emitCudaRunner(g, emitCuda(g));
    const exe = buildCudaRunner(source, { arch: 'sm_90a', cacheDir: cache });
    expect(statSync(exe).size).toBeGreaterThan(0);
  }, 600_000);
});
