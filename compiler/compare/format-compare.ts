import { fmt } from '../commands/output.ts';
import type { KernelResult } from './check-kernel.ts';
import type { CompareReport } from './compare-run.ts';
import { NEEDS_CUDA } from './cuda-column.ts';

const DASH = '—';
const num = (x: number | undefined): string => (x === undefined ? DASH : fmt(x, 3));

/** 3 significant digits at any scale. */
export function rate(tops: number | undefined): string {
  if (tops === undefined) return DASH;
  return tops >= 100 ? tops.toFixed(0) : tops.toPrecision(3);
}

/** The device-time column's header: says whose time it is when the adapter is the CPU. */
export function timeHeader(r: CompareReport): string {
  return r.softwareAdapter ? 'CPU ms (software adapter)' : 'WGSL ms';
}

export function verdict(x: KernelResult): string {
  if (x.error) return 'FAILED';
  if (!x.ok) return `OFF (${x.violations}/${x.elements})`;
  return x.intExact === true ? 'exact' : 'ok';
}

/** `1.2e-6 · 0.0312 ms`, `OFF (3/4096) · …` when outside tolerance; else why it did not run, short. */
export function cudaCell(x: KernelResult): string {
  const c = x.cuda;
  if (c.maxAbsError !== null && c.ms !== null) {
    return `${c.ok ? '' : `${c.status} `}${fmt(c.maxAbsError, 2)} · ${fmt(c.ms, 4)}`;
  }
  if (c.entry === undefined) return 'no CUDA kernel';
  return c.status.startsWith(NEEDS_CUDA) ? 'needs runtime' : c.status;
}

/** `12.3 TFLOP/s (4.1%)` of the CUDA launch, or '—'. */
export function cudaRateText(x: KernelResult): string {
  return x.cuda.tops === undefined ? DASH : `${rateText({ tops: x.cuda.tops, opKind: x.opKind })}` +
    (x.cuda.pctPeak === undefined ? '' : ` (${x.cuda.pctPeak.toFixed(2)}%)`);
}

/** `2e-6 + 2e-5·|ref|`, dropping a zero term; 'exact' when both are zero. */
export function tolText(t: KernelResult['tolerance']): string {
  const e = (v: number): string => v.toExponential(1).replace('.0e', 'e');
  return [t.atol ? e(t.atol) : '', t.rtol ? `${e(t.rtol)}·|ref|` : ''].filter(Boolean).join(' + ') || 'exact';
}

/** `3.69 GOP/s` for integer kernels (qgemm), `… TFLOP/s` for the rest, in G below 1 T; '—' where no op count. */
export function rateText(x: Pick<KernelResult, 'tops' | 'opKind'>): string {
  if (x.tops === undefined) return DASH;
  const [v, p] = x.tops >= 1 ? [x.tops, 'T'] : [x.tops * 1e3, 'G'];
  return `${rate(v)} ${p}${x.opKind === 'int' ? 'OP/s' : 'FLOP/s'}`;
}

/** `qgemm_direct_dp4a`, or `fused (add)`-style when the kernel's name does not start with its op. */
export function kernelLabel(x: Pick<KernelResult, 'name' | 'op'>): string {
  return x.name.startsWith(x.op) ? x.name : `${x.name} (${x.op})`;
}

// text columns read left-aligned, numbers right-aligned
const LEFT = new Set(['kernel', 'check', 'CUDA err · ms', 'CUDA rate', 'shape (out ← operands)', 'tolerance']);

function aligned(rows: readonly (readonly string[])[]): string {
  const head = rows[0]!;
  const widths = head.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r.map((cell, c) => (LEFT.has(head[c]!) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The text table, then which columns need what, then failures in full. */
export function formatCompare(r: CompareReport): string {
  const head = ['#', 'kernel', 'n', 'max abs err', 'max rel err', 'tolerance', 'check', timeHeader(r), 'rate', '% peak',
    'CUDA err · ms', 'CUDA rate', 'shape (out ← operands)'];
  const rows = r.rows.map((x) => [
    String(x.index), kernelLabel(x), String(x.count),
    num(x.maxAbsError), num(x.maxRelError),
    tolText(x.tolerance), verdict(x), x.ms === undefined ? DASH : fmt(x.ms, 4), rateText(x),
    x.pctPeak === undefined ? DASH : x.pctPeak.toFixed(2), cudaCell(x), cudaRateText(x), x.shape,
  ]);
  const bad = r.rows.filter((x) => !x.ok);
  const cudaBad = r.rows.filter((x) => x.cuda.ok === false);
  return [
    `${r.model} ${r.quant} (${r.method}) on ${r.adapter}: ${r.rows.length} distinct kernels, ` +
      `${r.dispatches} dispatches per forward`,
    `seeded random operands (seed ${r.seed}), each kernel vs the CPU reference interpreter; time: median of ` +
      `${r.repeats} after ${r.warmup} warm-up (${r.rows.find((x) => x.clock)?.clock ?? 'n/a'}); ` +
      'n = dispatches per forward',
    '',
    aligned([head, ...rows]),
    '',
    ...notes(r),
    ...bad.map((x) => `#${x.index} ${x.name}: ${x.error ?? `${x.violations} of ${x.elements} elements outside ` +
      `${tolText(x.tolerance)} (${x.tolerance.why})`}`),
    ...cudaBad.map((x) =>
      `#${x.index} ${x.name} on CUDA: ${x.cuda.status} outside ${tolText(x.cuda.tolerance ?? x.tolerance)}`),
    `${r.rows.length - bad.length}/${r.rows.length} kernels within tolerance` +
      (cudaRan(r) ? `; CUDA: ${r.rows.filter((x) => x.cuda.ok).length}/${r.rows.length}` : ''),
  ].join('\n');
}

const cudaRan = (r: CompareReport): boolean => r.cuda !== undefined && 'device' in r.cuda;

/** What the CUDA columns are: where they ran, or why not. */
export function cudaNote(r: CompareReport): string {
  if (r.cuda && 'device' in r.cuda) {
    const how = r.cuda.emulated ? ' (CPU emulation: times are the CPU\'s, no % peak)' : '';
    return `CUDA err · ms: each kernel as emitted by compile --target cuda, in one runner on ${r.cuda.device}${how}: ` +
      'max abs error vs the same reference and operands, median CUDA-event time of one launch.';
  }
  const why = r.cuda ? `: ${r.cuda.unavailable}` : '';
  return `CUDA err · ms: ${NEEDS_CUDA}${why}; the .cu source is emitted (--show, compile --target cuda), not run.`;
}

function notes(r: CompareReport): string[] {
  const lines = [cudaNote(r)];
  if (r.softwareAdapter) {
    lines.unshift(`${timeHeader(r)}: ${r.adapter} runs WGSL on the CPU, so times and rates are the CPU's; ` +
      'GPU times, % peak and the CUDA columns need a GPU.');
  } else if (!r.peak) {
    lines.unshift(`% peak: ${r.adapter} is not in the card table (compiler/bench/peaks.ts).`);
  } else {
    lines.unshift(`% peak: of ${r.peak.card} dense ${r.peak.int8Tops} TOP/s INT8 (qgemm rows, TOP/s) or ` +
      `${r.peak.bf16Tflops} TFLOP/s BF16/F16 (the rest).`);
  }
  return lines;
}
