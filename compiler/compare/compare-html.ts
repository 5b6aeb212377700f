import { fmt } from '../commands/output.ts';
import type { KernelResult } from './check-kernel.ts';
import type { CompareReport } from './compare-run.ts';
import { cudaCell, cudaNote, cudaRateText, kernelLabel, rateText, timeHeader, tolText, verdict } from './format-compare.ts';

const STYLE = `body{font:14px system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}td.l,th.l{text-align:left}.bad{color:#b00;font-weight:bold}
svg text{font:11px system-ui,sans-serif}.bar{fill:#4a7fb5}.bar.off{fill:#c33}`;

// bar chart geometry (px): one row per kernel
const ROW_H = 16;
const LABEL_W = 260;
const BAR_W = 520;

/** A self-contained page (no external assets): settings, the kernel table, and an inline SVG of time per kernel. */
export function renderCompareHtml(r: CompareReport): string {
  const title = `vdit compare: ${r.model} ${r.quant} (${r.method})`;
  const head = ['#', 'kernel', 'shape (out ← operands)', 'n', 'max abs err', 'max rel err', 'tolerance', 'check',
    timeHeader(r), 'rate', '% peak', 'CUDA err · ms', 'CUDA rate'];
  const cells = r.rows.map((x) => [
    String(x.index), kernelLabel(x), x.shape, String(x.count), num(x.maxAbsError), num(x.maxRelError),
    tolText(x.tolerance), verdict(x), x.ms === undefined ? '—' : fmt(x.ms, 4), rateText(x),
    x.pctPeak === undefined ? '—' : x.pctPeak.toFixed(2), cudaCell(x), cudaRateText(x),
  ]);
  const left = new Set([1, 2, 6, 7, 11, 12]);
  const th = head.map((h, i) => `<th${left.has(i) ? ' class="l"' : ''}>${esc(h)}</th>`).join('');
  const trs = cells.map((c, ri) => `<tr>${c.map((v, i) => {
    const off = (i === 7 && !r.rows[ri]!.ok) || (i === 11 && r.rows[ri]!.cuda.ok === false);
    const cls = [left.has(i) ? 'l' : '', off ? 'bad' : ''].filter(Boolean).join(' ');
    return `<td${cls ? ` class="${cls}"` : ''}>${esc(v)}</td>`;
  }).join('')}</tr>`);
  const ok = r.rows.filter((x) => x.ok).length;
  const where = r.softwareAdapter
    ? `${esc(r.adapter)} is a software adapter: WGSL times are the CPU's; GPU times and % peak need a GPU.`
    : `Device: ${esc(r.adapter)}${r.peak ? `; % peak of ${esc(r.peak.card)}` : ' (not in the card table: no % peak)'}.`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>
<h1>${esc(title)}</h1>
<p>${r.rows.length} distinct kernels, ${r.dispatches} dispatches per forward; ${ok}/${r.rows.length} within tolerance
of the CPU reference on seeded random operands (seed ${r.seed}).
Time: median of ${r.repeats} after ${r.warmup} warm-up.</p>
<p>${where} ${esc(cudaNote(r))}</p>
<h2>Time per kernel (one dispatch)</h2>
${barChart(r.rows)}
<h2>Kernels</h2>
<table><tr>${th}</tr>
${trs.join('\n')}
</table>
</body></html>
`;
}

/** One `<rect class="bar">` per kernel, length ∝ its median time; kernels without a time get a zero-width bar. */
export function barChart(rows: readonly KernelResult[]): string {
  const max = Math.max(...rows.map((x) => x.ms ?? 0), 1e-9);
  const h = rows.length * ROW_H + 8;
  const bars = rows.map((x, i) => {
    const y = 4 + i * ROW_H;
    const w = x.ms === undefined ? 0 : Math.max(1, (BAR_W * x.ms) / max);
    const label = `#${x.index} ${kernelLabel(x)}`;
    const ms = x.ms === undefined ? (x.error ? 'failed' : '—') : `${fmt(x.ms, 3)} ms`;
    return `<text x="${LABEL_W - 6}" y="${y + 11}" text-anchor="end">${esc(label)}</text>` +
      `<rect class="bar${x.ok ? '' : ' off'}" x="${LABEL_W}" y="${y + 2}" width="${w.toFixed(1)}" ` +
      `height="${ROW_H - 4}">` +
      `<title>${esc(`${label}: ${ms}`)}</title></rect>` +
      `<text x="${(LABEL_W + w + 4).toFixed(1)}" y="${y + 11}">${esc(ms)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + BAR_W + 90}" height="${h}" role="img">\n` +
    `${bars.join('\n')}\n</svg>`;
}

const num = (x: number | undefined): string => (x === undefined ? '—' : fmt(x, 3));

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}
