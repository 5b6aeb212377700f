import { floatToClip } from '../data/moving-shapes.ts';
import { encodeGif } from '../video/gif.ts';
import type { ClipResult, EvalResult } from './eval-run.ts';

// small GIFs keep a 192-clip page near a few MB
const THUMB_SCALE = 2;

const STYLE = `body{font:14px system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:${32 * THUMB_SCALE + 40}px;font-size:11px}
img{image-rendering:pixelated;display:block;width:${32 * THUMB_SCALE}px}.bad{color:#b00}`;

/** A self-contained page: settings, the aggregate metric table, and every clip as an inline GIF with its scores. */
export function renderEvalHtml(result: EvalResult, clips: readonly Float32Array[]): string {
  const s = result.settings;
  const title = `vdit eval: ${result.model}, set ${s.set}`;
  const agg = Object.entries(result.aggregate).map(([k, v]) => [k, `${(v as number).toFixed(1)}%`]);
  const ref = result.reference;
  if (ref) agg.push(['PSNR vs reference', `${ref.psnr.toFixed(2)} dB`], ['SSIM vs reference', ref.ssim.toFixed(4)]);
  const backend = `${s.backend}${s.backend === 'wgsl' ? ` ${s.dtype}` : ''}`;
  const settings = `${clips.length} clips, ${s.steps} steps, cfg ${s.cfg}, ${backend}` +
    `${result.device ? ` (${escapeHtml(result.device)})` : ''}, ${s.batch} clip(s) per forward, ` +
    `${result.timing.perStepMs.toFixed(1)} ms per step; weights: ${escapeHtml(result.weights)}`;
  const figures = result.clips.map((c) => figure(c, clips[c.index]!, result.clipShape));
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${settings}</p>
<table><tr><th>metric</th><th>value</th></tr>
${agg.map(([k, v]) => `<tr><td>${escapeHtml(k!)}</td><td>${v}</td></tr>`).join('\n')}
</table>
<div class="grid">
${figures.join('\n')}
</div>
</body></html>
`;
}

function figure(c: ClipResult, clip: Float32Array, shape: EvalResult['clipShape']): string {
  const gif = Buffer.from(encodeGif(floatToClip(clip), shape, { scale: THUMB_SCALE })).toString('base64');
  const sc = c.scores;
  const flag = (ok: 0 | 1, what: string): string => (ok ? what : `<span class="bad">no ${what}</span>`);
  const fid = c.psnr !== undefined ? `<br>${c.psnr.toFixed(1)} dB, SSIM ${c.ssim!.toFixed(3)}` : '';
  return `<figure><img src="data:image/gif;base64,${gif}" alt="${escapeHtml(c.className)}">` +
    `<figcaption>#${c.class} ${escapeHtml(c.className)} · seed ${c.seed}<br>` +
    `${flag(sc.colour, 'colour')} ${flag(sc.shape, 'shape')} ${flag(sc.direction, 'dir')}${fid}</figcaption></figure>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}
