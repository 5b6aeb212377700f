import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readQualityRuns, renderQualityReport, type QualityRun } from '../../bench/quality-report.ts';
import type { EvalResult } from '../../compiler/generate/eval-run.ts';

const root = mkdtempSync(join(tmpdir(), 'vdit-quality-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// a small fixture in result.json form: 2 clips, metrics in %, Infinity kept as a string as eval-write.ts writes it
function result(aggregate: Record<string, number>, quant?: object, reference?: object): EvalResult {
  return JSON.parse(JSON.stringify({
    model: 'tiny', weights: 'models/tiny/model.safetensors', device: 'NVIDIA H100',
    settings: { set: 'standard', backend: 'wgsl', dtype: 'f32', steps: 30, cfg: 2, batch: 16, nullClass: 48,
      ...(quant ? { quant } : {}) },
    timing: { totalMs: 1000, perStepMs: 10, perClipMs: 166.4, forwards: 60 },
    aggregate: { colourAcc: 96.9, shapeAcc: 96.4, directionAcc: 44.8, smoothness: 96, consistency: 92.1, background: 97.6,
      ...aggregate },
    ...(reference ? { reference } : {}),
    clips: [{ index: 0 }, { index: 1 }],
  })) as EvalResult;
}

const build = (setting: string, ratio: number, keepFp: string[] = []): object => ({
  setting, method: 'rtn', keepFp, pipeline: `insert-qdq{quant=${setting}}`, compressionRatio: ratio,
});

describe('bench/quality-report.ts', () => {
  it('renders FP first, then settings by compression, with deltas vs FP, PSNR/SSIM and ratios', () => {
    writeFileSync(join(root, 'fp.json'), JSON.stringify(result({})));
    writeFileSync(join(root, 'w4a6.json'), JSON.stringify(result({ colourAcc: 95.4, directionAcc: 46.05 },
      build('w4a6', 3.5302), { dir: '/tmp/fp', psnr: 31.234, ssim: 0.91234, matched: 2 })));
    writeFileSync(join(root, 'w8a8.json'), JSON.stringify(result({ shapeAcc: 96.4 }, build('w8a8', 2.61),
      { dir: '/tmp/fp', psnr: 'Infinity', ssim: 1, matched: 2 })));
    writeFileSync(join(root, 'w4a6-adaln-fp.json'), JSON.stringify(result({ background: 90 },
      build('w4a6', 1.8929, ['**.adaLN_modulation.*']))));
    writeFileSync(join(root, 'w4a6.stdout.json'), JSON.stringify({ output: 'x', aggregate: {} }));
    const runs = readQualityRuns(root);
    expect(runs.map((r) => r.name)).toEqual(['fp', 'w4a6-adaln-fp', 'w4a6', 'w8a8']);
    const md = renderQualityReport(runs);
    const rows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| setting'));
    expect(rows).toEqual([
      '| FP32 (reference) | 1.00× | 96.9 | 96.4 | 44.8 | 96.0 | 92.1 | 97.6 | – | – | 166 |',
      '| W4A6 RTN, adaLN W4A8 | 3.53× | 95.4 (−1.5) | 96.4 | 46.0 (+1.3) | 96.0 | 92.1 | 97.6 | 31.23 | 0.9123 | 166 |',
      '| W8A8 RTN, adaLN W4A8 | 2.61× | 96.9 | 96.4 | 44.8 | 96.0 | 92.1 | 97.6 | Infinity | 1.0000 | 166 |',
      '| W4A6 RTN, FP: `**.adaLN_modulation.*` | 1.89× | 96.9 | 96.4 | 44.8 | 96.0 | 92.1 | 90.0 (−7.6) | not compared | ' +
        'not compared | 166 |',
    ]);
    expect(md).toContain('2 clips (set `standard`), 30 Euler steps, guidance 2, batch 16');
  });

  it('refuses runs without FP or with different eval settings', () => {
    const q: QualityRun = { name: 'w4a4', result: result({}, build('w4a4', 3.5)) };
    expect(() => renderQualityReport([q])).toThrow('no FP run among w4a4: nothing to compare with');
    const fp: QualityRun = { name: 'fp', result: result({}) };
    const other = result({}, build('w4a4', 3.5));
    const quick = { ...other, settings: { ...other.settings, steps: 10 } };
    expect(() => renderQualityReport([fp, { name: 'w4a4', result: quick }]))
      .toThrow(/w4a4: set standard, 10 steps, .* differs from fp: set standard, 30 steps/);
  });
});
