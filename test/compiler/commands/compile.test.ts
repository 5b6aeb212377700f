import { describe, expect, it } from 'vitest';
import { formatReport } from '../../../compiler/commands/compile.ts';
import type { CompileReport } from '../../../compiler/compile/compile-model.ts';
import { compileQuantConfig } from '../../../compiler/compile/quant-build.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { tinyConfig } from '../../../compiler/model/presets.ts';
import { methodReport } from '../../../compiler/quant/method-report.ts';
import { quantizationReport } from '../../../compiler/quant/quantized-weights.ts';
import { samplerBounds } from '../../../passes/prune-schedule.ts';
import { DEFAULT_PRUNE_TILE, pruneTokens } from '../../../passes/prune-tokens.ts';

const g = buildDiT(tinyConfig({ depth: 2 }));

/** A report of the deploy profile at `quant`, byte accounting only (no weights, no device). */
function report(quant: string): CompileReport {
  return {
    model: 'tiny', quant, method: 'rtn', keepFp: [], pipeline: 'p', kernels: 1, steps: 1, weightsBytes: 1,
    compileMs: 1, adapter: 'cpu', quantization: quantizationReport(g, compileQuantConfig(quant)),
    methodReport: methodReport('rtn', g, [], 0, 0),
  };
}

/** layer → bits column of the report's layer table. */
function bitsColumn(text: string): Map<string, string> {
  const rows = text.split('\n').filter((l) => /^(blocks|final_layer|t_block)\./.test(l));
  return new Map(rows.map((l) => l.trim().split(/\s+/)).map((c) => [c[0]!, c[2]!]));
}

describe('compile report text', () => {
  it('labels every FP8 layer w4a8-fp8, the deploy profile\'s adaLN linears included', () => {
    const bits = bitsColumn(formatReport('out', report('w4a8-fp8')));
    expect(bits.size).toBe(15);
    expect(bits.get('blocks.0.adaLN_modulation.1')).toBe('w4a8-fp8');
    expect(bits.get('final_layer.adaLN_modulation.1')).toBe('w4a8-fp8');
    expect([...bits.values()].every((b) => b === 'w4a8-fp8')).toBe(true);
  });

  it('keeps integer labels for integer builds: w4a6 block linears, w4a8 adaLN linears', () => {
    const text = formatReport('out', report('w4a6'));
    const bits = bitsColumn(text);
    expect(bits.get('blocks.1.mlp.fc2')).toBe('w4a6');
    expect(bits.get('blocks.1.adaLN_modulation.1')).toBe('w4a8');
    expect(text).not.toContain('fp8');
  });
});

describe('compile report prune line', () => {
  it('lists an online schedule\'s tiles per range, noisiest first, and the step-weighted kept fraction', () => {
    const pruning = pruneTokens(g, { keeps: [1, 0.5, 0.25], bounds: samplerBounds(3), online: true }).report;
    const total = pruning[0]!.totalTiles;
    const line = formatReport('out', { ...report('w4a8'), pruning }).split('\n').find((l) => l.startsWith('prune'))!;
    expect(line).toContain(`(per timestep range, noisiest first; online: per ${DEFAULT_PRUNE_TILE} queries)`);
    expect(line).toContain(`0: ${total}→${Math.ceil(total / 2)}→${Math.ceil(total / 4)} online/${total} (`);
    const unscheduled = pruneTokens(g, { keep: 0.5, online: true }).report;
    expect(formatReport('out', { ...report('w4a8'), pruning: unscheduled })).toContain(`0: ${Math.ceil(total / 2)} online/${total} (0.500)`);
    const q128 = pruneTokens(g, { keep: 0.5, online: true, qtile: 128 }).report;
    expect(formatReport('out', { ...report('w4a8'), pruning: q128 })).toContain('kept K/V tiles per block (online: per 128 queries): ');
  });
});
