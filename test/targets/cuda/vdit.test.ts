import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { node } from '../../../ir/node.ts';
import { tensor } from '../../../runtime/tensor.ts';
import { scheduleTimesteps } from '../schedule-timesteps.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import { emulateKernel, GXX } from './emulate/emulate.ts';
import { CTX, input, NVCC, nvccCompile, reference, rng } from './harness.ts';

/*
 * schedule_value in CUDA: the bounds as f32 literals rounded up (f32Bound), nvcc type-check, and the kernel under
 * g++ emulation against the CPU reference, exact (it picks one of its values), t at every f32 bound included.
 */

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-vdit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// bounds at an f32 value (0.5) and between f32 values: f32(0.7), f32(−0.2) lie below theirs, f32(0.3), f32(0.1) above
const SCHEDULES: Record<string, { values: number[]; bounds: number[] }> = {
  'six ranges': { values: [0.1, 2, -3.25, 0.7, 1e-3, -0.4], bounds: [0.7, 0.5, 0.3, 0.1, -0.2] },
  'one range (no bounds)': { values: [0.3], bounds: [] },
};

const CASES = Object.entries(SCHEDULES).map(([name, attrs], i) => {
  const t = scheduleTimesteps(attrs.bounds, rng(40 + i), 300);
  const n = node('schedule_value', [input('t', 'f32', [t.length])], attrs);
  return { name, n, t: tensor(n.src[0]!.type, t), ranges: attrs.values.length };
});

describe('CUDA schedule_value', () => {
  it('compares t with each bound rounded up to f32 and reads a constant table of the values', () => {
    const k = lowerCudaNode(CASES[0]!.n, CTX);
    expect(k.name).toBe('schedule_value');
    expect(k.params).toEqual(['const float*', 'float*']);
    expect(k.source).toContain('(tb < 0.7000000476837158f ? 1u : 0u) + (tb < 0.5f ? 1u : 0u)');
    expect(k.source).toContain('__constant__ float VALUES[6] = {');
    expect(lowerCudaNode(CASES[1]!.n, CTX).source).toContain('const unsigned r = 0u;');
  });

  it.skipIf(!NVCC)('compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    expect(() => nvccCompile(CASES.map((c) => lowerCudaNode(c.n, CTX)))).not.toThrow();
  }, 300_000);
});

describe.skipIf(!GXX)('CUDA schedule_value emulated vs the reference (needs g++)', () => {
  it.each(CASES.map((c) => c.name))('exact, t at each f32 bound and its neighbours: %s', (name) => {
    const c = CASES.find((x) => x.name === name)!;
    const got = emulateKernel(lowerCudaNode(c.n, CTX), c.n, [c.t], join(dir, name.replace(/[^a-z0-9]+/gi, '_')));
    const want = reference(c.n, { t: c.t });
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
    // not vacuous: every range is picked
    expect(new Set(want.data).size).toBe(c.ranges);
  }, 120_000);
});
