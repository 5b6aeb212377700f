import { describe, expect, it } from 'vitest';
import type { KernelResult } from '../../../compiler/compare/check-kernel.ts';
import { renderCompareHtml } from '../../../compiler/compare/compare-html.ts';
import type { CompareReport } from '../../../compiler/compare/compare-run.ts';
import { EXACT } from '../../../compiler/compare/tolerance.ts';

const row = (i: number, over: Partial<KernelResult> = {}): KernelResult => ({
  index: i, name: `k${i}`, op: 'fused', shape: 'f32[4] ← f32[4]', count: 1, tolerance: EXACT, opKind: 'float',
  cuda: { maxAbsError: null, ms: null, status: 'needs CUDA runtime (GPU + nvcc)' },
  maxAbsError: 0, maxRelError: 0, violations: 0, elements: 4, ok: true, ms: i, ...over,
});

// a kernel that could not run: no time, no error figures
function failed(i: number): KernelResult {
  const { ms: _ms, maxAbsError: _a, maxRelError: _r, ...rest } = row(i);
  return { ...rest, ok: false, error: 'shader compilation failed' };
}

const report: CompareReport = {
  model: 'm<1>', quant: 'w4a8', method: 'rtn', adapter: 'llvmpipe', softwareAdapter: true, seed: 0, warmup: 1,
  repeats: 2, dispatches: 5, rows: [row(1), row(2, { ok: false, violations: 1 }), failed(3)],
};

describe('renderCompareHtml', () => {
  it('is one self-contained page: the table and an inline SVG with one bar per kernel, bars ∝ time', () => {
    const html = renderCompareHtml(report);
    const bars = [...html.matchAll(/<rect class="bar( off)?" x="\d+" y="[\d.]+" width="([\d.]+)"/g)];
    expect(bars.length).toBe(3);
    expect(Number(bars[1]![2])).toBeCloseTo(2 * Number(bars[0]![2]!), 0);
    expect(bars.map((b) => b[1] === ' off')).toEqual([false, true, true]);
    expect(html.match(/<tr><td/g)!.length).toBe(3);
    expect(html).toContain('m&lt;1&gt;');
    expect(html).toMatch(/software adapter/);
    // nothing fetched: no scripts, stylesheets or images from elsewhere
    expect(html).not.toMatch(/<script|<link|src=|href=|url\(/);
  });
});
