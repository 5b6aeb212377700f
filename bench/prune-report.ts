// Renders attention token pruning (vdit issue 7) from the files bench/gpu/prune.sh brings back: eval results of the
// pruned tiny builds (PSNR/SSIM vs their dense twin), their compile reports (kept tiles), the attention kernel times
// on cogvideox-2b shapes (attention-wgsl.json, attention-cuda.json) and the step times (step-prune.json, `vdit bench
// --step --out`). Writes the Markdown page and an SVG plot of PSNR vs the kept K/V fraction.
//   npx tsx bench/prune-report.ts <dir> -o bench/results/prune.md      (also writes prune.svg beside it)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from '../compiler/bench/bench-run.ts';
import type { EvalResult } from '../compiler/generate/eval-run.ts';
import { readQualityRuns } from './quality-report.ts';
import { pruneValue, SCHEDULE_STEPS, scheduleLabel, STEP_SCHEDULES, type ScheduleSum, type StepKind } from './step-schedules.ts';
import { writeReportPage } from './report-file.ts';

const METRICS = [
  ['colourAcc', 'colour'], ['shapeAcc', 'shape'], ['directionAcc', 'direction'], ['smoothness', 'smoothness'],
  ['consistency', 'consistency'], ['background', 'background'],
] as const;

/** A pruned build: its eval name, label, the dense twin it is compared with, and its selection kind (plot series). */
interface Variant {
  readonly name: string;
  readonly label: string;
  readonly dense: 'fp' | 'w4a6';
  readonly series: 'static' | 'schedule' | 'online' | 'online schedule' | 'online, block 0 dense' | 'online, qtile 128'
    | 'online, residual' | 'online, frozen lists' | 'online, lazy residual';
  /** off the plot (a second point at the same kept fraction, e.g. another tile size) */
  readonly plot?: false;
}

/** Online selection with a per-timestep budget: `--prune schedule=…,select=online`, ranges of equal step counts. */
const SCHEDULES: readonly (readonly [string, string])[] = [
  ['sch1-.5x9', '1 / 0.5 ×9'], ['sch1-.25x3', '1 / 0.25 ×3'], ['sch1-.5x2-.25x2', '1 / 0.5 / 0.5 / 0.25 / 0.25'],
  ['sch1-.5x3-.25', '1 / 0.5 ×3 / 0.25'], ['sch1-.5-.25', '1 / 0.5 / 0.25'], ['sch1-.75-.5-.25', '1 / 0.75 / 0.5 / 0.25'],
  ['sch1-.5x3', '1 / 0.5 ×3'], ['sch1x2-.5x4', '1 ×2 / 0.5 ×4'],
];

/** Online with block 0's attention dense at every step (`dense=0`): the block the pruning error concentrates in. */
const BLOCK0_DENSE: readonly (readonly [string, string])[] = [
  ['d0-online0.5', 'keep 0.5'], ['d0-online0.375', 'keep 0.375'], ['d0-sch.5-.25', 'schedule 0.5 / 0.25'],
  ['d0-sch1-.25x9', 'schedule 1 / 0.25 ×9'], ['d0-sch1-.25x3', 'schedule 1 / 0.25 ×3'], ['d0-sch1-.5x9', 'schedule 1 / 0.5 ×9'],
  ['d0-sch1-.5x3', 'schedule 1 / 0.5 ×3'],
];

/** Online with query tiles of 128 (`qtile=128`: one list per 128 queries, 8-warp blocks on CUDA). */
const QTILE128: readonly (readonly [string, string])[] = [
  ['q128-online0.5', 'keep 0.5'], ['q128-online0.25', 'keep 0.25'], ['q128-sch1-.25x3', 'schedule 1 / 0.25 ×3'],
  ['q128-sch1-.5x3', 'schedule 1 / 0.5 ×3'],
];

/** Residual reuse (`cache=residual`): pruned steps add dense − sparse of the last dense step, lists chosen afresh. */
const RESIDUAL: readonly (readonly [string, string])[] = [
  ['res-sch1-.5x3', 'schedule 1 / 0.5 ×3'], ['res-sch1-.25x3', 'schedule 1 / 0.25 ×3'],
  ['res-sch1-.25x4', 'schedule 1 / 0.25 ×4'], ['res-sch1-.25x9', 'schedule 1 / 0.25 ×9'],
  ['res-r3-.25', 'schedule (1 / 0.25 / 0.25) ×3 / 0.25'], ['res-sch1-.125x3', 'schedule 1 / 0.125 ×3'],
];

/**
 * Frozen lists (`cache=frozen`): the residual and the dense step's tile lists both reused until the next dense step;
 * then the per-step schedules of bench/step-schedules.ts (fz30*: one schedule entry per step of the 30).
 */
const FROZEN: readonly (readonly [string, string])[] = [
  ['fz-sch1-.5x3', 'schedule 1 / 0.5 ×3'], ['fz-sch1-.25x3', 'schedule 1 / 0.25 ×3'],
  ['fz-sch1-.25x9', 'schedule 1 / 0.25 ×9'], ['fz-r3-.25', 'schedule (1 / 0.25 / 0.25) ×3 / 0.25'],
  ['fz-15-.25', 'schedule (1 / 0.25 / 0.25) ×5, ranges of 2 steps'], ['fz-alt-.25', 'schedule (1 / 0.25) ×5'],
  ...STEP_SCHEDULES.map((x) => [x.name, scheduleLabel(x)] as const),
];

const VARIANTS: readonly Variant[] = [
  ...[0.75, 0.5, 0.25].map((k): Variant => ({ name: `keep${k}`, label: `static, keep ${k}`, dense: 'fp', series: 'static' })),
  { name: 'schedule', label: 'static, schedule 1 / 0.5 / 0.25 over the steps', dense: 'fp', series: 'schedule' },
  ...[0.75, 0.5, 0.25].map((k): Variant => ({ name: `online${k}`, label: `online, keep ${k}`, dense: 'fp', series: 'online' })),
  { name: 'online0.5-t32', label: 'online, keep 0.5, tiles of 32 keys', dense: 'fp', series: 'online', plot: false },
  { name: 'online0.5-t16', label: 'online, keep 0.5, tiles of 16 keys', dense: 'fp', series: 'online', plot: false },
  ...SCHEDULES.map(([name, s]): Variant => ({ name, label: `online, schedule ${s}`, dense: 'fp', series: 'online schedule' })),
  ...BLOCK0_DENSE.map(([name, s]): Variant =>
    ({ name, label: `online, ${s}, block 0 dense`, dense: 'fp', series: 'online, block 0 dense' })),
  ...QTILE128.map(([name, s]): Variant =>
    ({ name, label: `online, ${s}, query tiles of 128`, dense: 'fp', series: 'online, qtile 128' })),
  ...RESIDUAL.map(([name, s]): Variant =>
    ({ name, label: `online + residual reuse, ${s}`, dense: 'fp', series: 'online, residual' })),
  ...FROZEN.map(([name, s]): Variant => (STEP_SCHEDULES.find((x) => x.name === name)?.lazy
    ? { name, label: `online + lazy residual, ${s}`, dense: 'fp', series: 'online, lazy residual' }
    : { name, label: `online + frozen lists, ${s}`, dense: 'fp', series: 'online, frozen lists' })),
  { name: 'w4a6-keep0.5', label: 'W4A6 (RTN) + static keep 0.5', dense: 'w4a6', series: 'static' },
  { name: 'w4a6-online0.5', label: 'W4A6 (RTN) + online keep 0.5', dense: 'w4a6', series: 'online' },
  { name: 'w4a6-sch1-.5x3', label: 'W4A6 (RTN) + online, schedule 1 / 0.5 ×3', dense: 'w4a6', series: 'online schedule' },
];

const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));
const agg = (r: EvalResult): Record<string, number> => r.aggregate as unknown as Record<string, number>;
const readJson = <T>(dir: string, f: string): T | undefined =>
  existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), 'utf8')) as T : undefined;

/** The mean kept K/V fraction a compile report states (blocks averaged), or undefined when absent. */
function keptFraction(dir: string, name: string): number | undefined {
  const c = readJson<{ pruning?: { keptFraction: number }[] }>(dir, `${name}.compile.json`);
  if (!c?.pruning?.length) return undefined;
  return c.pruning.reduce((a, b) => a + b.keptFraction, 0) / c.pruning.length;
}

function qualityRow(label: string, r: EvalResult, dense: EvalResult, kept: number | undefined): string {
  const [a, d] = [agg(r), agg(dense)];
  const cell = (k: string): string => {
    const diff = a[k]! - d[k]!;
    return Math.abs(diff) < 0.05 ? a[k]!.toFixed(1) : `${a[k]!.toFixed(1)} (${diff > 0 ? '+' : '−'}${Math.abs(diff).toFixed(1)})`;
  };
  const ref = r.reference!;
  return `| ${label} | ${kept === undefined ? '–' : kept.toFixed(2)} | ${METRICS.map(([k]) => cell(k)).join(' | ')} | ` +
    `${num(ref.psnr).toFixed(2)} | ${num(ref.ssim).toFixed(3)} |`;
}

interface AttentionBench {
  readonly preset: string;
  readonly b: number; readonly h: number; readonly n: number; readonly hd: number;
  readonly elem: string; readonly tile: number; readonly device: string;
  readonly rows: readonly { keep: number; tiles: number; ms: number; speedup?: number; kernel: string }[];
}

function attentionTable(title: string, a: AttentionBench): string[] {
  const total = a.rows[0]!.tiles;
  return [
    `### ${title}`, '',
    `${a.preset} self-attention [B=${a.b}, H=${a.h}, N=${a.n}, D=${a.hd}], ${a.elem}, tiles of ${a.tile} keys, ` +
      `${a.device}; median of the timed runs after warm-up.`, '',
    '| kept K/V | tiles | kernel | ms | vs dense |', '|---:|---:|---|---:|---:|',
    ...a.rows.map((x) => `| ${x.keep} | ${x.tiles}/${total} | ${x.kernel} | ${x.ms.toFixed(1)} | ` +
      `${x.speedup ? `${x.speedup.toFixed(2)}×` : '–'} |`),
    '',
  ];
}

/** bench/attention-sparse-cuda.ts: one launch per kernel and kept fraction through the CUDA runner. */
interface MmaAttentionBench {
  readonly preset: string; readonly b: number; readonly h: number; readonly n: number; readonly hd: number; readonly tile: number;
  readonly device?: string;
  readonly rows: readonly { kernel: string; variant?: string; keep: number; ms: number; tflops: number }[];
  /** --residual: each schedule's steps summed from its step kinds' times */
  readonly schedules?: readonly ScheduleSum[];
}

function mmaAttentionTable(a: MmaAttentionBench): string[] {
  const dense = (r: MmaAttentionBench['rows'][number]): number | undefined =>
    a.rows.find((x) => x.kernel === 'attention_mma' && x.variant === r.variant)?.ms;
  return [
    '### CUDA (the runner, f16 tensor-core kernels)', '',
    `${a.preset} self-attention [B=${a.b}, H=${a.h}, N=${a.n}, D=${a.hd}], f32 storage, q/k/v/P rounded to f16 for ` +
      `mma.sync m16n8k16 with f32 accumulation, tiles of ${a.tile} keys${a.device ? `, ${a.device}` : ''}; median of the ` +
      'timed launches after warm-up (bench/attention-sparse-cuda.ts; the full table with the f32 kernel is in cuda.md).', '',
    '| kernel | variant | kept K/V | ms | TFLOP/s | vs dense |', '|---|---|---:|---:|---:|---:|',
    ...a.rows.filter((r) => r.kernel !== 'attention_flash').map((r) => {
      const d = dense(r);
      return `| ${r.kernel} | ${r.variant ?? '–'} | ${r.keep.toFixed(2)} | ${r.ms.toFixed(2)} | ${r.tflops.toFixed(0)} | ` +
        `${d ? `${(d / r.ms).toFixed(2)}×` : '–'} |`;
    }),
    '',
  ];
}

/**
 * bench/attention-sparse-cuda.ts --online / --residual: dense, then each configuration's launches summed (first row
 * dense), under `title` with `how` after the shape.
 */
function onlineCudaTable(a: MmaAttentionBench, title: string, how: string): string[] {
  const dense = a.rows[0]!.ms;
  return [
    `### ${title}`, '',
    `${a.preset} self-attention [B=${a.b}, H=${a.h}, N=${a.n}, D=${a.hd}], tiles of ${a.tile} keys, one runner per row ` +
      `${how}; median CUDA-event times after warm-up; the rows sum every launch they need. qtile 64: one list per 64 ` +
      'queries (4-warp blocks); qtile 128: per 128 (8-warp blocks).', '',
    '| launches | query tile | kept K/V | ms | vs dense |', '|---|---:|---:|---:|---:|',
    ...a.rows.map((r) => `| ${r.kernel} | ${r.variant === 'default' ? '–' : r.variant!.replace('qtile ', '')} | ` +
      `${Number(r.keep.toFixed(3))} | ${r.ms.toFixed(2)} | ${(dense / r.ms).toFixed(2)}× |`),
    '',
  ];
}

/** The issue's quality bar on the tiny model: PSNR vs dense and the largest task-metric drop (points). */
const BAR = { psnr: 30, drop: 1 } as const;

/**
 * The per-step schedules whole: the tiny model's quality (PSNR/SSIM vs dense, the largest task-metric drop) beside
 * cogvideox-2b attention over the 30 steps on CUDA, each step kind's launches summed as the bench timed them.
 */
function wholeRunTable(
  runs: ReadonlyMap<string, EvalResult>, fp: EvalResult, a: MmaAttentionBench | undefined,
  held: ReadonlyMap<string, EvalResult>,
): string[] {
  /** PSNR vs dense, the largest task-metric drop against `dense`, and whether both meet the bar. */
  const judge = (r: EvalResult, dense: EvalResult): { psnr: number; drop: number; ok: boolean } => {
    const [m, d] = [agg(r), agg(dense)];
    const drop = Math.max(0, ...METRICS.map(([k]) => d[k]! - m[k]!));
    const psnr = num(r.reference!.psnr);
    return { psnr, drop, ok: psnr >= BAR.psnr && drop <= BAR.drop };
  };
  const heldFp = held.get('fp');
  const rows = STEP_SCHEDULES.flatMap((s) => {
    const r = runs.get(s.name);
    const sum = a?.schedules?.find((x) => x.name === s.name);
    if (!r && !sum) return [];
    const q = r && judge(r, fp);
    const quality = q
      ? `${q.psnr.toFixed(2)} | ${num(r!.reference!.ssim).toFixed(3)} | ${q.drop.toFixed(2)} | ${q.ok ? 'yes' : 'no'}`
      : '– | – | – | –';
    const h = held.get(s.name);
    const hq = h && heldFp && judge(h, heldFp);
    const heldCells = hq ? `${hq.psnr.toFixed(2)} | ${hq.drop.toFixed(2)} | ${hq.ok ? 'yes' : 'no'}` : '– | – | –';
    const time = sum
      ? `${sum.dense} / ${sum.refresh + (sum.select ?? 0)} / ${sum.pruned} | ${sum.ms.toFixed(1)} | ` +
        `**${(sum.denseMs / sum.ms).toFixed(2)}×**`
      : '– | – | –';
    return [`| ${scheduleLabel(s)}${s.lazy ? ', cache=lazy' : ''} | \`${pruneValue(s)}\` | ${quality} | ${heldCells} | ${time} |`];
  });
  if (!rows.length) return [];
  const dense = a?.schedules?.[0]?.denseMs;
  return [
    `### A whole sampling run: quality and attention time per schedule (${SCHEDULE_STEPS} steps)`, '',
    'Tiny quality as in the first table (largest drop: the worst task metric\'s fall below dense FP, points; the bar: ' +
      `PSNR ≥ ${BAR.psnr} dB and no metric down more than ${BAR.drop} point); CUDA: ` +
      `cogvideox-2b self-attention over the ${SCHEDULE_STEPS} steps, each step the summed launches of its kind in the ` +
      `table above (dense with no sparse part / refresh or, lazy, the selecting step / pruned steps), against ` +
      `${SCHEDULE_STEPS} dense attentions${dense ? ` (${dense.toFixed(1)} ms)` : ''}. Held-out: the same evaluation on ` +
      'seeds 4–7 (`--set heldout`, 192 other clips, `prune/heldout/`) against its own dense FP clips, for the ' +
      'schedules near the bar: a choice made on seeds 0–3 checked on fresh noise.', '',
    '| schedule | --prune | PSNR vs dense | SSIM | largest drop | meets the bar | held-out PSNR | held-out drop | ' +
      'held-out bar | dense / refresh or select / pruned | ms | vs dense |',
    '|---|---|---:|---:|---:|:---:|---:|---:|:---:|---|---:|---:|',
    ...rows, '',
  ];
}

/** `vdit run --profile --json` of a CUDA build: its kernels' launches. */
interface CudaRun {
  readonly timeMs: number;
  readonly device?: string;
  readonly kernels: readonly { name: string; ns: number }[];
}

/** Attention time of a CUDA forward: the attention kernels, tile_select and the key pooling (reduce_mean). */
const ATTENTION_KERNELS = ['attention_mma', 'sparse_attention_mma', 'tile_select', 'reduce_mean'];

function cudaStepTable(rows: readonly (readonly [string, CudaRun])[]): string[] {
  const ms = (r: CudaRun, names: readonly string[]): number =>
    r.kernels.filter((k) => names.includes(k.name)).reduce((a, k) => a + k.ns / 1e6, 0);
  const [, base] = rows[0]!;
  return [
    '### cogvideox-2b denoiser forward (CUDA W4A8, one call)', '',
    `${base.device ?? 'unknown card'}; seeded weights, one profiled forward (\`vdit run … --backend cuda --profile\`; ` +
      'the step time is the median of 3). Attention: the attention kernels + `tile_select` + the key pooling\'s ' +
      '`reduce_mean` (its slice/concat copies of the ragged last tile, ~4 ms, count in the step only).', '',
    '| build | step ms | attention ms | of which selection | attention vs dense | step vs dense |', '|---|---:|---:|---:|---:|---:|',
    ...rows.map(([label, r]) => {
      const [a, sel] = [ms(r, ATTENTION_KERNELS), ms(r, ['tile_select', 'reduce_mean'])];
      return `| ${label} | ${r.timeMs.toFixed(1)} | ${a.toFixed(1)} | ${sel ? sel.toFixed(1) : '–'} | ` +
        `${(ms(base, ATTENTION_KERNELS) / a).toFixed(2)}× | ${(base.timeMs / r.timeMs).toFixed(2)}× |`;
    }),
    '',
  ];
}

/** bench/prune-run-cuda.ts's result: a whole sampling run, dense against a per-step schedule, wall ms per step. */
export interface SamplingRun {
  readonly preset: string;
  readonly quant: string;
  readonly schedule: string;
  readonly prune: string;
  readonly device: string;
  readonly steps: number;
  readonly denseStepMs: number;
  readonly denseRunMs: number;
  readonly prunedRunMs: number;
  /** per step kind (select: cache=lazy runs only, absent from earlier files) */
  readonly byKind: Readonly<Partial<Record<StepKind, { readonly steps: number; readonly medianMs: number }>>>;
}

function samplingRunTable(r: SamplingRun, file: string): string[] {
  const k = r.byKind;
  const cell = (x: { readonly steps: number; readonly medianMs: number } | undefined): string =>
    (x?.steps ? `${x.medianMs.toFixed(1)} (×${x.steps})` : '–');
  return [
    `### ${r.preset} sampling run (CUDA ${r.quant.toUpperCase()}, carried state on the device, ${r.steps} steps)`, '',
    `${r.device.replace(/, [\d.]+ MiB of buffers/, '')}; seeded weights, batch 1; each step's wall time (inputs up, ` +
      'velocity back, the forward through `CudaRunner.step`) the faster of two runs on fresh runners (`npx tsx bench/prune-run-cuda.ts ' +
      `${r.preset} --schedule ${r.schedule}\`, \`prune/${file}\`).`, '',
    '| build | dense step ms | dense (no sparse part) | refresh | select (lazy) | pruned | run ms | run vs dense |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    `| dense | ${r.denseStepMs.toFixed(1)} | – | – | – | – | ${r.denseRunMs.toFixed(0)} | 1.00× |`,
    `| ${r.schedule} (\`${r.prune}\`) | – | ${cell(k.dense)} | ${cell(k.refresh)} | ${cell(k.select)} | ${cell(k.pruned)} | ` +
      `${r.prunedRunMs.toFixed(0)} | **${(r.denseRunMs / r.prunedRunMs).toFixed(2)}×** |`,
    '',
  ];
}

function stepTable(s: BenchReport, what: string): string[] {
  const rows = s.step.filter((r) => r.gpuMs !== undefined);
  const base = rows.find((r) => !r.build.includes('@'));
  const attnMs = (r: (typeof rows)[number]): number | undefined =>
    r.byOp?.filter((o) => ['attention', 'sparse_attention', 'tile_select'].includes(o.op)).reduce((a, o) => a + o.ms, 0);
  const select = (r: (typeof rows)[number]): string => {
    const t = r.byOp?.find((o) => o.op === 'tile_select');
    return t ? t.ms.toFixed(0) : '–';
  };
  const baseAttn = base && attnMs(base);
  return [
    `### ${s.model} denoiser step (WGSL, ${what})`, '',
    `${s.device.adapter.description || s.device.adapter.device}, webgpu ${s.device.versions.webgpu}; median of ` +
      `${s.options.repeats} after ${s.options.warmup} warm-up, GPU timestamps summed over the dispatches. \`@keep=F\`: every ` +
      'block\'s self-attention keeps F of its 64-key tiles (text tiles always); which tiles does not change the time; ' +
      '`@online=F`: chosen at run time per query tile (`tile_select` launches included).', '',
    '| build | step ms | attention ms (tile_select included) | of which tile_select | attention vs dense | vs the dense f16 step |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const a = attnMs(r);
      return `| ${r.build} | ${r.gpuMs!.toFixed(0)} | ${a === undefined ? '–' : a.toFixed(0)} | ${select(r)} | ` +
        `${a && baseAttn ? `${(baseAttn / a).toFixed(2)}×` : '–'} | ${base ? `${(base.gpuMs! / r.gpuMs!).toFixed(2)}×` : '–'} |`;
    }),
    '',
  ];
}

/** PSNR vs dense against the kept fraction, one polyline per series. */
function plot(points: readonly { series: string; kept: number; psnr: number }[]): string {
  const [w, h, left, top, bottom, right] = [640, 340, 55, 30, 50, 150];
  const colours: Record<string, string> = {
    static: '#9e9e9e', schedule: '#ffb74d', online: '#d32f2f', 'online schedule': '#7b1fa2', 'online, block 0 dense': '#388e3c',
    'online, qtile 128': '#0097a7', 'online, residual': '#795548', 'online, frozen lists': '#f50057', 'online, lazy residual': '#6200ea',
  };
  // a series whose points share kept fractions (several schedules per budget) is drawn as points only
  const scatter = new Set(['online schedule', 'online, block 0 dense', 'online, qtile 128', 'online, residual',
    'online, frozen lists', 'online, lazy residual']);
  const x = (k: number): number => left + (w - left - right) * k;
  const y = (p: number): number => top + (h - top - bottom) * (1 - Math.min(p, 50) / 50);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`];
  for (let p = 0; p <= 50; p += 10) {
    out.push(`<line x1="${left}" x2="${w - right}" y1="${y(p)}" y2="${y(p)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(p) + 4}" text-anchor="end">${p}</text>`);
  }
  for (const k of [0, 0.25, 0.5, 0.75, 1]) out.push(`<text x="${x(k)}" y="${h - bottom + 16}" text-anchor="middle">${k}</text>`);
  out.push(`<line x1="${left}" x2="${w - right}" y1="${y(30)}" y2="${y(30)}" stroke="#1976d2" stroke-dasharray="4 3"/>`,
    `<text x="${w - right + 4}" y="${y(30) + 4}" fill="#1976d2">30 dB bar</text>`,
    `<text x="12" y="${top - 12}">PSNR vs dense (dB)</text>`,
    `<text x="${(left + w - right) / 2}" y="${h - 12}" text-anchor="middle">kept K/V fraction (mean over blocks and steps)</text>`);
  Object.entries(colours).forEach(([series, colour], i) => {
    const pts = points.filter((p) => p.series === series).sort((a, b) => a.kept - b.kept);
    if (!pts.length) return;
    if (!scatter.has(series)) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map((p) => `${x(p.kept).toFixed(1)},${y(p.psnr).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) {
      out.push(`<circle cx="${x(p.kept).toFixed(1)}" cy="${y(p.psnr).toFixed(1)}" r="4" fill="${colour}"><title>${series} ${p.kept.toFixed(2)}: ${p.psnr.toFixed(2)} dB</title></circle>`);
    }
    out.push(`<rect x="${w - right + 4}" y="${top + 20 * i}" width="10" height="10" fill="${colour}"/>`,
      `<text x="${w - right + 18}" y="${top + 20 * i + 9}">${series}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function renderPruneReport(dir: string, svgName: string): { md: string; svg: string } {
  const runs = new Map(readQualityRuns(dir).map((r) => [r.name, r.result]));
  const fp = runs.get('fp');
  if (!fp) throw new Error(`${dir}: no fp.json (the dense FP eval the FP rows are compared with)`);
  const gpu = existsSync(join(dir, 'gpu.txt')) ? readFileSync(join(dir, 'gpu.txt'), 'utf8').trim() : 'unknown card';
  const f = agg(fp);
  const lines = [
    '# Attention token pruning: quality on the tiny V-DiT, time on cogvideox-2b shapes',
    '',
    `Card: ${gpu}. Tiny: ${fp.clips.length} clips (set \`${fp.settings.set}\`: 48 classes × 4 seeds), ` +
      `${fp.settings.steps} Euler steps, guidance ${fp.settings.cfg}, WGSL, 16 clips per forward; 512 tokens = 8 frames × 64, ` +
      'tiles of 64 keys (one frame each). Each pruned build is compared with its dense twin (FP or W4A6): metrics in % with ' +
      'the change, PSNR/SSIM per clip of the same (class, seed). **static**: tiles chosen at compile time from the ' +
      'attention importance S_j of the calibration store (10 prompts × 30 steps, `vdit calib`), the same for every sample ' +
      'and head; **schedule**: one static list per third of the steps; **online**: tiles chosen per sample, head and ' +
      'query tile at run time from mean-pooled q·k (`tile_select`); **online schedule**: the same with a budget per ' +
      'timestep range (ranges of equal step counts, noisiest first; kept = the step-weighted mean); **residual reuse** / ' +
      '**frozen lists** (`cache=residual|frozen`): each dense step also computes the sparse part and carries the ' +
      'residual dense − sparse to the pruned steps after it, which add it to their own sparse part (over lists chosen ' +
      'afresh, or frozen: the dense step\'s lists); their kept column is the K/V read per step over the run, a dense ' +
      'step reading every key plus its sparse part (1.25 at 0.25); **lazy residual** (`cache=lazy`): frozen lists ' +
      'with the residual taken one step later, so a dense step reads every key and no sparse part (1.0): the first ' +
      'pruned step after it selects the lists, outputs the dense step\'s attention and carries it minus its own sparse ' +
      'part (passes/prune-residual.ts). The rows keep 0.75 / ' +
      '0.5 / 0.25 online and W4A6 online ran on an H200 against that card\'s dense FP clips (`fp-h200.json`; its task ' +
      'metrics equal the H100\'s to 0.1); every other row on H100s, whose dense FP and W4A6 clips were identical in ' +
      'every metric across the four calls.',
    '',
    `Dense FP: ${METRICS.map(([k, h]) => `${h} ${f[k]!.toFixed(1)}`).join(', ')}.`,
    '',
    `| build | kept K/V | ${METRICS.map(([, h]) => h).join(' | ')} | PSNR vs dense | SSIM vs dense |`,
    `|---|---:|${METRICS.map(() => '---:').join('|')}|---:|---:|`,
  ];
  const points: { series: string; kept: number; psnr: number }[] = [];
  for (const v of VARIANTS) {
    const r = runs.get(v.name);
    const dense = runs.get(v.dense);
    if (!r || !dense) continue;
    const kept = keptFraction(dir, v.name);
    lines.push(qualityRow(v.label, r, dense, kept));
    if (kept !== undefined && v.dense === 'fp' && v.plot !== false) points.push({ series: v.series, kept, psnr: num(r.reference!.psnr) });
  }
  lines.push('', `![PSNR vs dense against the kept fraction](${svgName})`, '');
  // bench/prune-clips.ts GIFs: clips-<build>.gif, dense | pruned | |difference| ×4 at picked PSNRs
  for (const gif of readdirSync(dir).filter((f) => /^clips-.+\.gif$/.test(f)).sort()) {
    const build = gif.slice('clips-'.length, -'.gif'.length);
    const label = VARIANTS.find((v) => v.name === build)?.label ?? build;
    lines.push(`Clips of ${label} (rows: the worst, 25th-percentile, median and best PSNR vs dense; columns: dense | ` +
      `pruned | |difference| ×4):`, '', `![${label}: dense, pruned, difference](${basename(dir)}/${gif})`, '');
  }
  const wgsl = readJson<AttentionBench>(dir, 'attention-wgsl.json');
  const cuda = readJson<AttentionBench>(dir, 'attention-cuda.json');
  if (wgsl || cuda) lines.push('## Attention kernel time', '');
  if (wgsl) lines.push(...attentionTable('WGSL (Dawn, Vulkan)', wgsl));
  if (cuda) lines.push(...attentionTable('CUDA (the runner)', cuda));
  const mma = readJson<MmaAttentionBench>(dir, 'attention-cuda-mma.json');
  if (mma) lines.push(...mmaAttentionTable(mma));
  const onlineCuda = readJson<MmaAttentionBench>(dir, 'attention-online-cuda.json');
  if (onlineCuda) {
    lines.push(...onlineCudaTable(onlineCuda, 'CUDA, online selection as the pass builds it (pooled keys, tile_select, ' +
      'per-query-tile sparse kernel)', '(bench/attention-sparse-cuda.ts --online)'));
  }
  const residualCuda = readJson<MmaAttentionBench>(dir, 'attention-residual-cuda.json');
  if (residualCuda) {
    lines.push(...onlineCudaTable(residualCuda, 'CUDA, frozen lists (cache=frozen) and lazy residual (cache=lazy) per kind of step',
      '(bench/attention-sparse-cuda.ts --residual, the elementwise tail fused as a compile fuses it, the carries\' next ' +
      'values written as a model\'s graph writes them): frozen, a pruned step (sparse part + the empty refresh launch + ' +
      'the carried residual added), a refresh step (sparse part + every tile) and a dense step before another (every ' +
      'tile, no sparse part); lazy, a dense step (every tile), the first pruned step (it selects the lists) and a pruned ' +
      'step. A launch that nothing reads in the step\'s range is skipped (runtime/schedule-liveness.ts) and shows ~0.00; the ' +
      'kept column is the pruned budget'));
  }
  const heldDir = join(dir, 'heldout');
  const held = new Map(existsSync(heldDir) ? readQualityRuns(heldDir).map((r) => [r.name, r.result]) : []);
  lines.push(...wholeRunTable(runs, fp, residualCuda, held));
  const steps = ([['step-prune.json', 'static lists'], ['step-online.json', 'online selection, a later call']] as const)
    .map(([f, what]) => [readJson<BenchReport>(dir, f), what] as const).filter(([r]) => r !== undefined);
  if (steps.length) lines.push('## Step time', '', ...steps.flatMap(([r, what]) => stepTable(r!, what)));
  const cudaRuns = ([['W4A8', 'cog-cuda-w4a8.json'], ['W4A8, online keep 0.5, qtile 128', 'cog-cuda-w4a8-online0.5-q128.json']] as const)
    .map(([label, f]) => [label, readJson<CudaRun>(dir, f)] as const);
  if (cudaRuns.every(([, r]) => r)) lines.push(...cudaStepTable(cudaRuns as readonly (readonly [string, CudaRun])[]));
  for (const f of readdirSync(dir).filter((x) => /^run-cuda-.*\.json$/.test(x)).sort()) {
    lines.push(...samplingRunTable(readJson<SamplingRun>(dir, f)!, f));
  }
  return { md: lines.join('\n'), svg: plot(points) };
}


if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, flag, out] = process.argv.slice(2);
  if (!dir || (flag !== undefined && flag !== '-o')) throw new Error('usage: npx tsx bench/prune-report.ts <dir> [-o page.md]');
  const md = out ?? 'prune.md';
  const svgPath = md.replace(/\.md$/, '.svg');
  const r = renderPruneReport(dir, svgPath.split('/').pop()!);
  writeReportPage(md, r.md, r.svg);
  console.log(r.md);
}
