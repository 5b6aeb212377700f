// Renders the S²Q-VDiT comparison on the tiny model from the files bench/gpu/s2q.sh brings back: eval results
// <setting>-<name>.json (PSNR/SSIM vs fp.json), compile reports <setting>-<name>.compile.json (calibration time).
// Writes the Markdown page and an SVG plot of PSNR vs FP per method and setting.
//   npx tsx bench/s2q-report.ts <dir> -o bench/results/tiny-s2q.md      (also writes tiny-s2q.svg beside it)
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EvalResult } from '../compiler/generate/eval-run.ts';
import { readQualityRuns } from './quality-report.ts';
import { writeReportPage } from './report-file.ts';

const METRICS = [
  ['colourAcc', 'colour'], ['shapeAcc', 'shape'], ['directionAcc', 'direction'], ['smoothness', 'smoothness'],
  ['consistency', 'consistency'], ['background', 'background'],
] as const;

/** Row order and labels of the methods (file suffix → label). */
export const METHODS: readonly (readonly [string, string])[] = [
  ['rtn', 'RTN'], ['smoothquant', 'SmoothQuant'], ['quarot', 'QuaRot (Hadamard)'], ['viditq', 'ViDiT-Q (balancing + rotation)'],
  ['gptq', 'GPTQ'], ['s2q', '**S²Q-VDiT** (SDS + STD)'], ['nosds', 'S²Q − SDS (uniform timesteps)'],
  ['nostd', 'S²Q − STD (plain MSE)'], ['nosdsnostd', 'S²Q − SDS − STD'],
];
export const STRATEGY_ROWS: readonly (readonly [string, string])[] = [
  ['s2q', 'SDS (C̄_diff · C̄_quant, top-K)'], ['diffonly', 'diffusion salience only'], ['quantonly', 'quantization salience only'],
  ['oneprompt', 'one prompt, all its steps'], ['nosds', 'uniform timesteps over prompts'], ['randomt', 'random timesteps'],
];
export const SETTINGS = ['w4a8', 'w4a6', 'w4a4'] as const;

interface Row { readonly result: EvalResult; readonly calibSeconds?: number }

const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));

function load(dir: string): { fp: EvalResult; rows: Map<string, Row> } {
  const runs = readQualityRuns(dir);
  const fp = runs.find((r) => r.name === 'fp')?.result;
  if (!fp) throw new Error(`${dir}: no fp.json (the FP eval every row is compared with)`);
  const rows = new Map<string, Row>();
  for (const r of runs) {
    if (r.name === 'fp') continue;
    const compile = join(dir, `${r.name}.compile.json`);
    const c = existsSync(compile) ? JSON.parse(readFileSync(compile, 'utf8')) as { calibration?: { seconds?: number } } : undefined;
    rows.set(r.name, { result: r.result, ...(c?.calibration?.seconds !== undefined ? { calibSeconds: c.calibration.seconds } : {}) });
  }
  return { fp, rows };
}

function cell(v: number, fp: number): string {
  const d = v - fp;
  return Math.abs(d) < 0.05 ? v.toFixed(1) : `${v.toFixed(1)} (${d > 0 ? '+' : '−'}${Math.abs(d).toFixed(1)})`;
}

function tableRow(label: string, r: Row, fp: EvalResult): string {
  const a = r.result.aggregate as unknown as Record<string, number>;
  const f = fp.aggregate as unknown as Record<string, number>;
  const ref = r.result.reference!;
  const calib = r.calibSeconds === undefined ? '–' : r.calibSeconds.toFixed(0);
  return `| ${label} | ${METRICS.map(([k]) => cell(a[k]!, f[k]!)).join(' | ')} | ${num(ref.psnr).toFixed(2)} | ` +
    `${num(ref.ssim).toFixed(3)} | ${calib} |`;
}

const HEADER = `| method | ${METRICS.map(([, h]) => h).join(' | ')} | PSNR vs FP | SSIM vs FP | calib s |\n` +
  `|---|${METRICS.map(() => '---:').join('|')}|---:|---:|---:|`;

export function renderS2qReport(dir: string, svgName: string): { md: string; svg: string } {
  const { fp, rows } = load(dir);
  const f = fp.aggregate as unknown as Record<string, number>;
  const lines = [
    '# S²Q-VDiT vs the baselines on the tiny V-DiT',
    '',
    `${fp.clips.length} clips (set \`${fp.settings.set}\`: 48 classes × 4 seeds), ${fp.settings.steps} Euler steps, guidance ` +
      `${fp.settings.cfg}, 16 clips per forward, WGSL on the GPU, weights \`${fp.weights}\`. Every build is the deploy ` +
      'profile (block linears at the setting, adaLN linears W4A8: packed weights + scales 3.53× smaller than FP16; the ' +
      'S²Q folders also store their learned transforms in f32, 172 KB, so their weights.bin is 3.43× smaller) and runs real ' +
      'integer qgemms. Metrics in % with the change vs FP; PSNR/SSIM compare each clip with the FP clip of the same ' +
      '(class, seed). calib s: wall time of the method\'s calibration inside `vdit compile` (S²Q: selection + distillation ' +
      'of all 8 blocks; three or four builds shared the GPU and 16 CPU cores, so alone it is faster); the trajectories ' +
      '(`vdit calib`, 10 prompts × 30 steps with CFG, 600 records) took 129–132 s more, once, shared by every build.',
    '',
    `FP: ${METRICS.map(([k, h]) => `${h} ${f[k]!.toFixed(1)}`).join(', ')}.`,
    '',
  ];
  for (const s of SETTINGS) {
    const present = METHODS.filter(([m]) => rows.has(`${s}-${m}`));
    if (!present.length) continue;
    lines.push(`## ${s.toUpperCase()}`, '', HEADER, ...present.map(([m, label]) => tableRow(label, rows.get(`${s}-${m}`)!, fp)), '');
  }
  const strat = STRATEGY_ROWS.filter(([m]) => rows.has(`w4a4-${m}`));
  if (strat.length) {
    lines.push('## Calibration data selection at W4A4 (the paper\'s Table 6 design, one seed)', '',
      'K = 40 samples of the same 10 × 30 pool, then the same distillation (STD on) and GPTQ.', '',
      HEADER.replace('| method |', '| selection |'), ...strat.map(([m, label]) => tableRow(label, rows.get(`w4a4-${m}`)!, fp)), '');
  }
  lines.push(...seedTable(rows, fp));
  lines.push(`![PSNR vs FP per method and setting](${svgName})`, '');
  return { md: lines.join('\n'), svg: plot(rows) };
}

/** The W4A4 runs of one selection over calibration seeds: seed 0 is `w4a4-<m>`, seed S is `w4a4-<m>-s<S>`. */
function seedRuns(rows: ReadonlyMap<string, Row>, m: string): { seed: number; result: EvalResult }[] {
  return [...rows.entries()].flatMap(([name, r]) => {
    const hit = name === `w4a4-${m}` ? 0 : new RegExp(`^w4a4-${m}-s(\\d+)$`).exec(name)?.[1];
    return hit === undefined ? [] : [{ seed: Number(hit), result: r.result }];
  }).sort((a, b) => a.seed - b.seed);
}

/** Table 6 over seeds: PSNR per seed, mean ± sample SD, and the task metrics averaged over the seeds. */
function seedTable(rows: ReadonlyMap<string, Row>, fp: EvalResult): string[] {
  const present = STRATEGY_ROWS.map(([m, label]) => [label, seedRuns(rows, m)] as const).filter(([, runs]) => runs.length > 1);
  if (!present.length) return [];
  const f = fp.aggregate as unknown as Record<string, number>;
  const out = [
    '## Calibration data selection at W4A4 over calibration seeds (the paper\'s Table 6)', '',
    'Each seed is its own trajectory pool (`vdit calib --seed S`: other classes and noise, and random-t\'s draw), then ' +
      'the same selection, distillation and GPTQ. PSNR vs FP per seed, mean ± sample standard deviation; task metrics ' +
      'are the mean over the seeds with the change vs FP.', '',
    `| selection | PSNR per seed | PSNR mean ± SD | ${METRICS.map(([, h]) => h).join(' | ')} |`,
    `|---|---|---:|${METRICS.map(() => '---:').join('|')}|`,
  ];
  for (const [label, runs] of present) {
    const ps = runs.map((r) => num(r.result.reference!.psnr));
    const mean = ps.reduce((a, b) => a + b, 0) / ps.length;
    const sd = Math.sqrt(ps.reduce((a, b) => a + (b - mean) ** 2, 0) / (ps.length - 1));
    const metric = (k: string): number =>
      runs.reduce((a, r) => a + (r.result.aggregate as unknown as Record<string, number>)[k]!, 0) / runs.length;
    out.push(`| ${label} | ${runs.map((r) => `${num(r.result.reference!.psnr).toFixed(1)} (s${r.seed})`).join(', ')} | ` +
      `${mean.toFixed(2)} ± ${sd.toFixed(2)} | ${METRICS.map(([k]) => cell(metric(k), f[k]!)).join(' | ')} |`);
  }
  out.push('');
  return out;
}

/** Grouped bars: PSNR vs FP per method, one group per setting. */
function plot(rows: ReadonlyMap<string, Row>): string {
  const colours = ['#9e9e9e', '#bcaaa4', '#90caf9', '#80cbc4', '#ffcc80', '#d32f2f', '#f48fb1', '#ce93d8', '#b39ddb'];
  const [w, h, left, top, bottom] = [900, 360, 50, 30, 60];
  const max = 40;
  const groupW = (w - left - 20) / SETTINGS.length;
  const barW = groupW / (METHODS.length + 1);
  const y = (v: number): number => top + (h - top - bottom) * (1 - Math.min(v, max) / max);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h + 20 * Math.ceil(METHODS.length / 3)}" ` +
    'font-family="sans-serif" font-size="11">'];
  for (let v = 0; v <= max; v += 10) {
    out.push(`<line x1="${left}" x2="${w - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  out.push(`<text x="12" y="${top - 12}">PSNR vs FP (dB)</text>`);
  SETTINGS.forEach((s, gi) => {
    const x0 = left + gi * groupW + barW / 2;
    METHODS.forEach(([m], mi) => {
      const r = rows.get(`${s}-${m}`);
      if (!r) return;
      const v = num(r.result.reference!.psnr);
      const x = x0 + mi * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" ` +
        `height="${(y(0) - y(v)).toFixed(1)}" fill="${colours[mi]}"><title>${s} ${m}: ${v.toFixed(2)} dB</title></rect>`,
        `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="8">${v.toFixed(1)}</text>`);
    });
    out.push(`<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${h - bottom + 16}" text-anchor="middle" ` +
      `font-weight="bold">${s.toUpperCase()}</text>`);
  });
  METHODS.forEach(([, label], i) => {
    const [lx, ly] = [left + (i % 3) * 280, h - bottom + 36 + 18 * Math.floor(i / 3)];
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${colours[i]}"/>`,
      `<text x="${lx + 14}" y="${ly}">${label.replace(/\*/g, '')}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}


if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, flag, out] = process.argv.slice(2);
  if (!dir || (flag !== undefined && flag !== '-o')) throw new Error('usage: npx tsx bench/s2q-report.ts <dir> [-o page.md]');
  const md = out ?? 'tiny-s2q.md';
  const svgPath = md.replace(/\.md$/, '.svg');
  const r = renderS2qReport(dir, svgPath.split('/').pop()!);
  writeReportPage(md, r.md, r.svg);
  console.log(r.md);
}
