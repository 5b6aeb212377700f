import { describe, expect, it } from 'vitest';
import { emitCuda } from '../../../compiler/compile/emit-cuda.ts';
import { lowerQuantized } from '../../../compiler/compile/quant-build.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { NVCC, nvccCompile } from './harness.ts';
import { narrowTinySmallClip } from '../../compiler/model/narrow-tiny.ts';

// the compile-model test's tiny DiT: every kernel kind of the model, small enough to lower in a second
const cfg = narrowTinySmallClip(2);
const graph = buildDiT(cfg);
const weights = seededWeights(graph, 7);
const builds = ['none', 'w4a8', 'w4a4'].map((q) => ({ q, e: emitCuda(lowerQuantized(graph, weights, q).graph) }));

describe('CUDA emission of the tiny model', () => {
  it('lowers every step, with unique entries, and quantized builds use the tensor-core qgemm', () => {
    for (const { q, e } of builds) {
      expect(e.steps.length).toBeGreaterThan(20);
      expect(new Set(e.kernels.map((k) => k.entry)).size).toBe(e.kernels.length);
      for (const k of e.kernels) expect(k.source).toContain(`extern "C" __global__ void __launch_bounds__(${k.block[0] * k.block[1]}) ${k.entry}(`);
      const names = new Set(e.kernels.map((k) => k.name));
      expect(names.has('attention_mma')).toBe(true);  // head dim 32: the f16 tensor-core kernel
      if (q === 'none') expect(names.has('linear')).toBe(true);
      else {
        expect([...names].some((s) => s.startsWith('qgemm_mma_w4a'))).toBe(true);
        expect(names.has('quantize_prologue')).toBe(true);
      }
    }
  });

  // one nvcc run over one translation unit holding every kernel: emission errors fail CI in seconds
  it.skipIf(!NVCC)('compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    expect(() => nvccCompile(builds.flatMap(({ e }) => e.kernels))).not.toThrow();
  }, 300_000);
});
