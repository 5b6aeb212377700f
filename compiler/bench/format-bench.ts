import { table } from '../commands/output.ts';
import type { BenchReport } from './bench-run.ts';
import type { GemmResult } from './gemm-bench.ts';

const num = (x: number | undefined, d: number): string => (x === undefined ? '–' : x.toFixed(d));
const rate = (x: number | undefined): string => (x === undefined ? '–' : x >= 10 ? x.toFixed(1) : x.toPrecision(3));

/** ms of the FP build on the same shape, for the "× vs f16 / f32" columns (speed-up: > 1 means faster). */
export function fpMs(gemms: readonly GemmResult[], shape: string, build: string): number | undefined {
  return gemms.find((g) => g.shape === shape && g.build === build && g.medianMs !== undefined)?.medianMs;
}

export function speedup(baseMs: number | undefined, ms: number | undefined): string {
  return baseMs === undefined || ms === undefined ? '–' : `${(baseMs / ms).toFixed(2)}×`;
}

function gemmRows(r: BenchReport): string[][] {
  const head = ['shape MxKxN', 'count', 'build', 'variant', 'ms', 'TOP/s', ...(r.peak ? ['% INT8 peak'] : []), 'vs f16', 'vs f32'];
  const rows = [head];
  for (const g of r.gemms) {
    const note = g.skipped ? `skipped: ${g.skipped}` : g.error ? `FAILED: ${g.error.slice(0, 80)}` : undefined;
    rows.push([
      g.shape, String(g.count), g.build, g.variant, note ?? num(g.medianMs, 3), note ? '' : rate(g.tops),
      ...(r.peak ? [note ? '' : num(g.pctInt8Peak, 2)] : []),
      note ? '' : speedup(fpMs(r.gemms, g.shape, 'f16'), g.medianMs), note ? '' : speedup(fpMs(r.gemms, g.shape, 'f32'), g.medianMs),
    ]);
  }
  return rows;
}

function stepRows(r: BenchReport): string[][] {
  const f16 = r.step.find((s) => s.build === 'f16')?.gpuMs;
  const rows = [['build', 'storage', 'GPU ms', 'wall ms', 'vs f16', 'peak MiB', 'dispatches']];
  for (const s of r.step) {
    if (s.skipped || s.error) {
      rows.push([s.build, '', s.skipped ? `skipped: ${s.skipped}` : `FAILED: ${s.error!.slice(0, 80)}`, '', '', '', '']);
      continue;
    }
    rows.push([s.build, s.elem!, num(s.gpuMs, 2), num(s.wallMs, 1), speedup(f16, s.gpuMs), num(s.peakBytes! / 2 ** 20, 1), String(s.dispatches)]);
  }
  return rows;
}

/** The human summary `vdit bench` prints: exactness, the GEMM table, the step table with its top op kinds. */
export function formatBench(r: BenchReport): string {
  const d = r.device;
  const lines = [
    `${r.model} on ${d.adapter.device || d.adapter.description} (${d.adapter.description}); webgpu ${d.versions.webgpu}, node ${d.versions.node}`,
    `median of ${r.options.repeats} after ${r.options.warmup} warm-up; ${r.peak ? `peaks: ${r.peak.card}` : 'card not in the peak table: no % column'}`,
  ];
  if (r.exactness.length) {
    lines.push('', table([['variant', 'exact vs CPU reference'], ...r.exactness.map((e) => [
      e.variant, e.skipped ? `skipped: ${e.skipped}` : e.error ? `FAILED: ${e.error.slice(0, 100)}` : e.exact ? `yes (${e.shape})` : `NO: ${e.mismatches} mismatches`,
    ])]));
  }
  if (r.gemms.length) lines.push('', table(gemmRows(r)));
  if (r.step.length) {
    lines.push('', table(stepRows(r)));
    for (const s of r.step) {
      if (!s.byOp) continue;
      const top = s.byOp.slice(0, 6).map((o) => `${o.op} ${o.percent.toFixed(1)}%`).join(', ');
      lines.push(`  ${s.build}: ${top}`);
    }
  }
  return lines.join('\n');
}
