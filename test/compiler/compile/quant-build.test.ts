import { describe, expect, it } from 'vitest';
import {
  checkCompileOptions, compilePipeline, compileQuantConfig, describeBuild, lowerQuantized,
} from '../../../compiler/compile/quant-build.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { tinyConfig } from '../../../compiler/model/presets.ts';
import { quantizationReport } from '../../../compiler/quant/quantized-weights.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { toposort } from '../../../ir/graph.ts';
import { builtinPasses } from '../../../passes/registry.ts';
import { formatPipeline, parsePipeline } from '../../../passes/pipeline.ts';

// the full tiny model at the compile batch (one CFG pair): the done-when is about its folder
const tiny = buildDiT(tinyConfig({ batch: 2 }));
const weights = seededWeights(tiny, 11);

describe('the quantized build of vdit compile', () => {
  it('default tiny W4A6 (adaLN W4A8): ≥ 3.5× smaller than FP16, scales included; --keep-fp adaLN: < 2×', () => {
    const r = quantizationReport(tiny, compileQuantConfig('w4a6'), weights).totals;
    expect(r.compressionRatio).toBeGreaterThanOrEqual(3.5);
    // 8 blocks × (4 attn + 2 mlp + adaLN) + final_layer adaLN
    expect(r.quantizedLayers).toBe(57);
    expect(r.maxRelError).toBeGreaterThan(0);
    expect(r.maxRelError).toBeLessThan(0.2);
    const lineage = quantizationReport(tiny, compileQuantConfig('w4a6', ['**.adaLN_modulation.*'])).totals;
    expect(lineage.compressionRatio).toBeGreaterThan(1.5);
    expect(lineage.compressionRatio).toBeLessThan(2);
    expect(describeBuild(tiny, 'W4A6', 'rtn').compressionRatio).toBeCloseTo(r.compressionRatio, 12);
    expect(describeBuild(tiny, 'none', 'rtn').compressionRatio).toBe(1);
  });

  it('lowers every adaLN linear to a W4A8 qgemm sharing one quantized silu(c)', () => {
    const { graph } = lowerQuantized(tiny, weights, 'w4a6');
    const qgemms = toposort(graph).filter((n) => n.op === 'qgemm');
    expect(qgemms).toHaveLength(57);
    const mod = qgemms.filter((n) => n.src[0]!.type.shape.length === 2);
    expect(mod).toHaveLength(9);
    for (const n of mod) expect(n.attrs).toMatchObject({ abits: 8, wbits: 4 });
    expect(new Set(mod.map((n) => n.src[0])).size).toBe(1);
    expect(toposort(graph).some((n) => n.op === 'linear' && n.src[1]!.attrs['name'] === 'final_layer.linear.weight'))
      .toBe(true);
  });

  it('pipeline text round-trips with --keep-fp globs; bad options are clear errors', () => {
    const text = compilePipeline('w4a6', ['**.adaLN_modulation.*', 'blocks.{0,1}.mlp.*']);
    expect(text).toBe('canonicalize,insert-qdq{quant=w4a6,profile=deploy,' +
      'keep-fp="**.adaLN_modulation.*;blocks.{0,1}.mlp.*"},fuse-int4-gemm,dce,fuse-elementwise');
    const parsed = parsePipeline(text, new Map(builtinPasses()));
    expect(parsed[1]!.options).toEqual({ quant: 'w4a6', profile: 'deploy', 'keep-fp': '**.adaLN_modulation.*;blocks.{0,1}.mlp.*' });
    expect(formatPipeline(parsed)).toBe(text);
    expect(compilePipeline('none', ['x'])).toBe('canonicalize,dce,fuse-elementwise');
    expect(() => checkCompileOptions('w4a6', 'awq'))
      .toThrow("--method 'awq' is not one of rtn, smoothquant, quarot, viditq, gptq");
  });
});
