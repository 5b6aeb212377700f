// Renders the CUDA backend's results (vdit issue 6) from the files bench/gpu/cuda.sh brings back: the tiny model on
// the CUDA runner vs WGSL (tiny-cuda.json, tiny-wgsl.json: `vdit run --json`; cuda-vs-wgsl.json), W4A8 vs W4A8-FP8
// quality (w4a8.eval.json, w4a8-fp8.eval.json vs fp.eval.json), the cogvideox-2b step on CUDA vs PyTorch bf16
// (cog-cuda-w4a8.json, torch-bf16.json) and, when present, per-kernel CUDA vs WGSL (compare-*.json).
//   npx tsx bench/cuda-report.ts <dir> -o bench/results/cuda.md
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EvalResult } from '../compiler/generate/eval-run.ts';
import { writeReportPage } from './report-file.ts';

interface RunJson {
  readonly model: string;
  readonly quant?: string;
  readonly timeMs: number;
  readonly device?: string;
  readonly maxRelError?: number;
  readonly kernels?: readonly { name: string; node: string; ns: number; flops?: number }[];
}

interface ClipsJson {
  readonly quant: string; readonly clips: number; readonly steps: number; readonly cfg: number;
  readonly cudaStepMs: number; readonly wgslStepMs: number; readonly minPsnr: number; readonly maxAbs: number;
}

interface CompareJson {
  readonly model: string; readonly quant: string; readonly adapter: string;
  readonly cuda?: { readonly device?: string };
  readonly rows: readonly {
    name: string; op: string; shape: string; ok: boolean; ms?: number; tops?: number;
    cuda: { status: string; ok?: boolean; ms?: number; tops?: number; maxAbsError?: number | null };
  }[];
}

interface TorchForward { readonly framework: string; readonly cuda: string; readonly medianMs: number; readonly repeats: number }

const METRICS = [
  ['colourAcc', 'colour'], ['shapeAcc', 'shape'], ['directionAcc', 'direction'], ['smoothness', 'smoothness'],
  ['consistency', 'consistency'], ['background', 'background'],
] as const;

const read = <T>(dir: string, f: string): T | undefined =>
  existsSync(join(dir, f)) && readFileSync(join(dir, f), 'utf8').trim() ? JSON.parse(readFileSync(join(dir, f), 'utf8')) as T : undefined;
const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));

/** Per kernel name: launches, summed ms, share and achieved TFLOP/s (TOP/s for integer kernels). */
function byKernel(r: RunJson): string[] {
  const groups = new Map<string, { count: number; ms: number; flops: number }>();
  for (const k of r.kernels ?? []) {
    const g = groups.get(k.name) ?? { count: 0, ms: 0, flops: 0 };
    groups.set(k.name, { count: g.count + 1, ms: g.ms + k.ns / 1e6, flops: g.flops + (k.flops ?? 0) });
  }
  const total = [...groups.values()].reduce((a, g) => a + g.ms, 0);
  return [
    '| kernel | launches | ms | % | T(FL)OP/s |', '|---|---:|---:|---:|---:|',
    ...[...groups.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8).map(([name, g]) =>
      `| ${name} | ${g.count} | ${g.ms.toFixed(1)} | ${(100 * g.ms / total).toFixed(1)} | ` +
      `${g.flops ? (g.flops / (g.ms / 1e3) / 1e12).toFixed(1) : '–'} |`),
  ];
}

function qualityRow(label: string, r: EvalResult): string {
  const a = r.aggregate as unknown as Record<string, number>;
  return `| ${label} | ${METRICS.map(([k]) => a[k]!.toFixed(1)).join(' | ')} | ${num(r.reference!.psnr).toFixed(2)} | ` +
    `${num(r.reference!.ssim).toFixed(3)} |`;
}

export function renderCudaReport(dir: string): string {
  const gpu = existsSync(join(dir, 'gpu.txt')) ? readFileSync(join(dir, 'gpu.txt'), 'utf8').trim() : 'unknown card';
  const nvcc = existsSync(join(dir, 'nvcc.txt')) ? readFileSync(join(dir, 'nvcc.txt'), 'utf8').trim() : 'nvcc ?';
  const lines = [
    '# The CUDA backend: the runner, W4A8 and W4A8-FP8',
    '',
    `Card: ${gpu}; ${nvcc}; one runner.cu per graph (every kernel + a request loop), \`nvcc -O3 -arch=sm_90\`, driven ` +
      'over pipes by runtime/cuda-runner.ts; f32 storage; times are CUDA events, medians after a warm-up. WGSL numbers ' +
      'are from the same card in the same call (Dawn on Vulkan).',
    '',
  ];
  const [cuda, wgsl] = [read<RunJson>(dir, 'tiny-cuda.json'), read<RunJson>(dir, 'tiny-wgsl.json')];
  if (cuda && wgsl) {
    lines.push('## Tiny model, W4A8 (RTN): one denoiser forward', '',
      '| backend | ms per forward | max rel. error vs CPU reference |', '|---|---:|---:|',
      `| CUDA runner | ${cuda.timeMs.toFixed(2)} | ${cuda.maxRelError?.toExponential(2) ?? '–'} |`,
      `| WGSL | ${wgsl.timeMs.toFixed(2)} | ${wgsl.maxRelError?.toExponential(2) ?? '–'} |`, '',
      'The error vs the reference is the same on both: f32 sums in another order move a few activations across an ' +
      'integer rounding boundary of the per-token quantizer; the integer GEMMs themselves are exact (kernel tests).', '');
  }
  const clips = read<ClipsJson>(dir, 'cuda-vs-wgsl.json');
  if (clips) {
    lines.push('## Tiny model clips: CUDA vs WGSL', '',
      `${clips.clips} clips (distinct classes and seeds), ${clips.steps} Euler steps, guidance ${clips.cfg}, ${clips.quant}, ` +
        'the same noise on both backends.', '',
      '| min PSNR CUDA vs WGSL | max abs difference (pixels in [−1, 1]) | CUDA ms per step | WGSL ms per step |',
      '|---:|---:|---:|---:|',
      `| ${clips.minPsnr.toFixed(1)} dB | ${clips.maxAbs.toFixed(3)} | ${clips.cudaStepMs.toFixed(2)} | ${clips.wgslStepMs.toFixed(2)} |`,
      '');
  }
  const fp = read<EvalResult>(dir, 'fp.eval.json');
  const q8 = read<EvalResult>(dir, 'w4a8.eval.json');
  const f8 = read<EvalResult>(dir, 'w4a8-fp8.eval.json');
  if (fp && q8 && f8) {
    const f = fp.aggregate as unknown as Record<string, number>;
    lines.push('## W4A8 (int8 activations) vs W4A8-FP8 (e4m3 activations) on the tiny model', '',
      `${fp.clips.length} clips of the standard set, RTN weights (int4, exact in e4m3), WGSL. FP: ` +
        `${METRICS.map(([k, h]) => `${h} ${f[k]!.toFixed(1)}`).join(', ')}.`, '',
      `| activations | ${METRICS.map(([, h]) => h).join(' | ')} | PSNR vs FP | SSIM vs FP |`,
      `|---|${METRICS.map(() => '---:').join('|')}|---:|---:|`,
      qualityRow('int8 per token (W4A8)', q8), qualityRow('FP8 e4m3 per token (W4A8-FP8)', f8), '');
  }
  const cmp = read<CompareJson>(dir, 'compare-tiny.json');
  if (cmp && cmp.rows.some((r) => r.cuda.ms !== undefined)) {
    const both = cmp.rows.filter((r) => r.cuda.ms !== undefined && r.ms !== undefined);
    const q = both.filter((r) => r.op === 'qgemm');
    const sum = (rs: typeof both, f: (r: (typeof both)[number]) => number): number => rs.reduce((a, r) => a + f(r), 0);
    lines.push(`## \`vdit compare ${cmp.model} --quant ${cmp.quant}\`: every distinct kernel, WGSL vs CUDA vs the CPU reference`, '',
      `${cmp.rows.length} kernels; within tolerance: WGSL ${cmp.rows.filter((r) => r.ok).length}, CUDA ` +
        `${cmp.rows.filter((r) => r.cuda.ok).length} (qgemm: integer sums exact, max abs error ` +
        `${Math.max(...q.map((r) => r.cuda.maxAbsError ?? 0)).toExponential(1)} from the f32 epilogue). Device time summed ` +
        'over the distinct kernels (one launch each; the full table is `compare-tiny.json`):', '',
      '| kernels | WGSL ms | CUDA ms | CUDA vs WGSL |', '|---|---:|---:|---:|',
      `| all ${both.length} | ${sum(both, (r) => r.ms!).toFixed(3)} | ${sum(both, (r) => r.cuda.ms!).toFixed(3)} | ` +
        `${(sum(both, (r) => r.ms!) / sum(both, (r) => r.cuda.ms!)).toFixed(2)}× |`,
      `| ${q.length} qgemm (W4A8) | ${sum(q, (r) => r.ms!).toFixed(3)} | ${sum(q, (r) => r.cuda.ms!).toFixed(3)} | ` +
        `${(sum(q, (r) => r.ms!) / sum(q, (r) => r.cuda.ms!)).toFixed(2)}× |`, '');
  }
  const cog = read<RunJson>(dir, 'cog-cuda-w4a8.json');
  const cogF32 = read<RunJson & { buffers?: { totalBytes: number } }>(dir, 'cog-cuda-f32.json');
  const torch = read<TorchForward>(dir, 'torch-bf16.json');
  if (cog && torch) {
    lines.push('## cogvideox-2b: one denoiser forward (batch 1, 17776 tokens, seeded weights)', '',
      '| build | ms per forward | vs PyTorch bf16 |', '|---|---:|---:|',
      `| PyTorch bf16 (${torch.framework}, CUDA ${torch.cuda}, eager, SDPA; median of ${torch.repeats}) | ${torch.medianMs.toFixed(1)} | 1.00× |`,
      `| vdit CUDA W4A8 (f32 storage, int8 mma.sync qgemm, f32 flash attention) | ${cog.timeMs.toFixed(1)} | ` +
        `${(torch.medianMs / cog.timeMs).toFixed(3)}× |`,
      ...(cogF32 ? [`| vdit CUDA f32 (f32 gemm, f32 flash attention; ${cogF32.buffers ? `${(cogF32.buffers.totalBytes / 2 ** 20).toFixed(0)} MiB of device buffers; ` : ''}it shared the card with evaluations, so its time is an upper bound) | ` +
        `${cogF32.timeMs.toFixed(1)} | ${(torch.medianMs / cogF32.timeMs).toFixed(3)}× |`] : []), '',
      'CUDA W4A8, time per kernel (one profiled forward):', '', ...byKernel(cog), '');
  }
  return lines.join('\n');
}


if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, flag, out] = process.argv.slice(2);
  if (!dir || (flag !== undefined && flag !== '-o')) throw new Error('usage: npx tsx bench/cuda-report.ts <dir> [-o page.md]');
  const md = renderCudaReport(dir);
  if (out) writeReportPage(out, md);
  console.log(md);
}
