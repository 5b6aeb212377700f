// Renders the RTN quality table of the tiny model from the eval result.json files bench/gpu/quality.sh copies out
// (one per setting, FP included) as Markdown: metrics with deltas vs FP, PSNR/SSIM vs FP, compression ratio.
//   npx tsx bench/quality-report.ts <dir> [-o bench/results/tiny-rtn.md]
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EvalResult } from '../compiler/generate/eval-run.ts';

/** One eval result.json, named by its file (fp.json → 'fp'). */
export interface QualityRun {
  readonly name: string;
  readonly result: EvalResult;
}

const METRICS = [
  ['colourAcc', 'colour'], ['shapeAcc', 'shape'], ['directionAcc', 'direction'], ['smoothness', 'smoothness'],
  ['consistency', 'consistency'], ['background', 'background'],
] as const;

// JSON keeps Infinity (PSNR of identical clips) as a string: see compiler/generate/eval-write.ts
const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));

function isFp(r: EvalResult): boolean {
  return r.settings.quant === undefined || r.settings.quant.setting === 'none';
}

/** Reads every eval result.json in dir (files with `settings` and `aggregate`); others are skipped. */
export function readQualityRuns(dir: string): QualityRun[] {
  const runs: QualityRun[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const v = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<EvalResult>;
    if (v.settings && v.aggregate && v.clips) runs.push({ name: basename(f, '.json'), result: v as EvalResult });
  }
  return runs;
}

function settingLabel(r: EvalResult): string {
  const q = r.settings.quant;
  if (!q || q.setting === 'none') return 'FP32 (reference)';
  const keep = q.keepFp.length ? `, FP: \`${q.keepFp.join('`, `')}\`` : ', adaLN W4A8';
  return `${q.setting.toUpperCase()} ${q.method.toUpperCase()}${keep}`;
}

function cell(v: number, fp: number | undefined): string {
  if (fp === undefined || v === fp) return v.toFixed(1);
  const d = v - fp;
  return `${v.toFixed(1)} (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)})`;
}

function checkComparable(runs: readonly QualityRun[]): void {
  const key = (r: EvalResult): string => {
    const s = r.settings;
    return `set ${s.set}, ${s.steps} steps, cfg ${s.cfg}, ${r.clips.length} clips, weights ${r.weights}`;
  };
  const first = key(runs[0]!.result);
  for (const { name, result } of runs.slice(1)) {
    if (key(result) !== first) throw new Error(`${name}: ${key(result)} differs from ${runs[0]!.name}: ${first}`);
  }
}

/** The Markdown page; throws when there is no FP run or the runs were made with different eval settings. */
export function renderQualityReport(runs: readonly QualityRun[]): string {
  const fp = runs.find((r) => isFp(r.result));
  const names = runs.map((r) => r.name).join(', ') || 'no runs';
  if (!fp) throw new Error(`no FP run among ${names}: nothing to compare with`);
  checkComparable(runs);
  const ordered = [fp, ...runs.filter((r) => r !== fp).sort((a, b) => ratio(b.result) - ratio(a.result))];
  const s = fp.result.settings;
  const lines = [
    `# The tiny V-DiT quantized by RTN: quality vs full precision`,
    '',
    `${fp.result.clips.length} clips (set \`${s.set}\`), ${s.steps} Euler steps, guidance ${s.cfg}, batch ${s.batch} ` +
      `clips per forward, ${s.backend} backend on ${fp.result.device ?? 'an unnamed device'}, ` +
      `weights \`${fp.result.weights}\`.`,
    'Metrics (docs/metrics.md) in %, with the change vs FP in brackets; PSNR (dB) and SSIM compare each clip with the',
    'FP clip of the same (class, seed). Weights: FP16 bytes of all weights over the bytes stored (packed integer',
    'weights plus f32 scales, other params at FP16). Rendered by `bench/quality-report.ts` from the result JSONs',
    'of `bench/gpu/quality.sh`.',
    '',
    `| setting | weights vs FP16 | ${METRICS.map(([, h]) => h).join(' | ')} | PSNR vs FP | SSIM vs FP | ms per clip |`,
    `|---|${'---:|'.repeat(METRICS.length + 4)}`,
  ];
  for (const { result: r } of ordered) {
    const base = (k: keyof EvalResult['aggregate']): number | undefined =>
      r === fp.result ? undefined : num(fp.result.aggregate[k]);
    const metrics = METRICS.map(([k]) => cell(num(r.aggregate[k]), base(k)));
    const ref = r === fp.result ? ['–', '–'] : r.reference
      ? [num(r.reference.psnr).toFixed(2), num(r.reference.ssim).toFixed(4)] : ['not compared', 'not compared'];
    lines.push(`| ${settingLabel(r)} | ${ratio(r).toFixed(2)}× | ${metrics.join(' | ')} | ${ref.join(' | ')} | ` +
      `${r.timing.perClipMs.toFixed(0)} |`);
  }
  return `${lines.join('\n')}\n`;
}

function ratio(r: EvalResult): number {
  return isFp(r) ? 1 : num(r.settings.quant!.compressionRatio);
}

function main(argv: readonly string[]): void {
  const dir = argv[0];
  if (!dir) throw new Error('usage: npx tsx bench/quality-report.ts <dir of result JSONs> [-o out.md]');
  const o = argv.indexOf('-o');
  const md = renderQualityReport(readQualityRuns(dir));
  if (o >= 0 && argv[o + 1]) writeFileSync(argv[o + 1]!, md);
  else process.stdout.write(md);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
