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

interface QgemmJson {
  readonly device: string;
  readonly shapes: readonly { m: number; k: number; n: number; count: number; kernel: string; tile: string; medianMs: number; tops: number; check: { ok: boolean } }[];
}

type Rate = { medianMs: number; tflops?: number; tops?: number } | { error: string };

interface TorchLinear {
  readonly framework: string; readonly device: string;
  readonly shapes: readonly { m: number; k: number; n: number; bf16: Rate; int8: Rate; fp8?: Rate }[];
}

interface AttentionJson {
  readonly b: number; readonly h: number; readonly n: number; readonly hd: number; readonly tile: number;
  readonly rows: readonly { kernel: string; variant?: string; keep: number; ms: number; tflops: number }[];
  readonly maxAbs?: number; readonly bound?: number;
}

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

const rate = (r: Rate | undefined): number | undefined => (r && 'medianMs' in r ? (r.tflops ?? r.tops) : undefined);
const cell = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(0));

/** Per cogvideox-2b linear shape: our qgemm (int8 and FP8 activations) beside PyTorch's GEMMs on the same card. */
function qgemmSection(s8: QgemmJson, fp8: QgemmJson | undefined, torch: TorchLinear): string[] {
  const key = (x: { m: number; k: number; n: number }): string => `${x.m}x${x.k}x${x.n}`;
  const t = new Map(torch.shapes.map((x) => [key(x), x] as const));
  const f = new Map((fp8?.shapes ?? []).map((x) => [key(x), x] as const));
  const rows = s8.shapes.filter((x) => x.m > 16).map((x) => {
    const [tx, fx] = [t.get(key(x)), f.get(key(x))];
    const bf = rate(tx?.bf16);
    return `| ${x.m}×${x.k}→${x.n} | ${x.count} | ${x.tile} | ${x.tops.toFixed(0)} | ${fx ? fx.tops.toFixed(0) : '–'} | ` +
      `${cell(bf)} | ${cell(rate(tx?.int8))} | ${cell(rate(tx?.fp8))} | ${bf ? `${(x.tops / bf).toFixed(2)}×` : '–'} | ` +
      `${x.check.ok && (!fx || fx.check.ok) ? 'exact' : 'FAIL'} |`;
  });
  return ['## W4A8 qgemm vs PyTorch on the cogvideox-2b linear shapes', '',
    `One qgemm per shape through the CUDA runner (bench/qgemm-cuda.ts; ${s8.device}), CUDA-event medians; PyTorch ` +
      `(${torch.framework}, bench/torch_linear.py) on the same card in the same call: bf16 \`F.linear\`, int8 ` +
      '`torch._int_mm`, FP8 `torch._scaled_mm` (e4m3, row-wise scales). Check: the first and last 32 rows of the GPU ' +
      'result against exact integer sums (FP8: within the f32 summation bound).', '',
    '| M×K→N | per forward | tile | ours int8 TOP/s | ours FP8 TFLOP/s | torch bf16 TFLOP/s | torch int8 TOP/s | torch FP8 TFLOP/s | ours int8 vs bf16 | check |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---|', ...rows, ''];
}

function attentionSection(a: AttentionJson, title = `## cogvideox-2b self-attention on CUDA [B=${a.b}, H=${a.h}, N=${a.n}, D=${a.hd}]`): string[] {
  const dense = a.rows.find((r) => r.kernel === 'attention_flash')?.ms;
  // the dense mma time of the same variant, so each sparse row reads against its own dense twin
  const mma = (r: AttentionJson['rows'][number]): number | undefined =>
    a.rows.find((x) => x.kernel === 'attention_mma' && x.variant === r.variant)?.ms;
  return [title, '',
    `One launch each (bench/attention-sparse-cuda.ts), tiles of ${a.tile} keys for the sparse rows. The f32 kernel is the ` +
      'old CUDA-core one; the mma kernels round q, k, v and P to f16 and accumulate in f32 ' +
      `(largest difference to the f32 kernel ${a.maxAbs?.toExponential(1) ?? '–'}, bound ${a.bound?.toExponential(1) ?? '–'}).`, '',
    '| kernel | variant | kept K/V | ms | TFLOP/s | vs f32 | vs dense mma |', '|---|---|---:|---:|---:|---:|---:|',
    ...a.rows.map((r) => `| ${r.kernel} | ${r.variant ?? '–'} | ${r.keep.toFixed(2)} | ${r.ms.toFixed(2)} | ${r.tflops.toFixed(0)} | ` +
      `${dense ? `${(dense / r.ms).toFixed(2)}×` : '–'} | ${mma(r) && !r.kernel.endsWith('_flash') ? `${(mma(r)! / r.ms).toFixed(2)}×` : '–'} |`), ''];
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
  const [s8, fp8, tl] = [read<QgemmJson>(dir, 'qgemm-cuda.json'), read<QgemmJson>(dir, 'qgemm-cuda-fp8.json'), read<TorchLinear>(dir, 'torch-linear.json')];
  if (s8 && tl) lines.push(...qgemmSection(s8, fp8, tl));
  const attn = read<AttentionJson>(dir, 'attention-cuda.json');
  if (attn) lines.push(...attentionSection(attn));
  const variants = read<AttentionJson>(dir, 'attention-variants.json');
  if (variants) {
    lines.push(...attentionSection(variants, '### The tensor-core kernel\'s variants (warps per block; -pipe: the register double buffer), one call'),
      'The default is 8 warps (128 queries a block: half the K/V re-reads of 4) without the double buffer, whose ' +
      'registers (174 a thread at 8 warps) cost more than the overlap gains.', '');
  }
  const cog = read<RunJson>(dir, 'cog-cuda-w4a8.json');
  const online = read<RunJson & { pruning?: readonly { keptFraction: number }[] }>(dir, 'cog-cuda-w4a8-online0.5.json');
  const cogF32 = read<RunJson & { buffers?: { totalBytes: number } }>(dir, 'cog-cuda-f32.json');
  const torch = read<TorchForward>(dir, 'torch-bf16.json');
  if (cog && torch) {
    lines.push('## cogvideox-2b: one denoiser forward (batch 1, 17776 tokens, seeded weights)', '',
      '| build | ms per forward | vs PyTorch bf16 |', '|---|---:|---:|',
      `| PyTorch bf16 (${torch.framework}, CUDA ${torch.cuda}, eager, SDPA; median of ${torch.repeats}) | ${torch.medianMs.toFixed(1)} | 1.00× |`,
      `| vdit CUDA W4A8 (f32 storage, pipelined int8 mma.sync qgemm, f16 tensor-core flash attention) | ${cog.timeMs.toFixed(1)} | ` +
        `${(torch.medianMs / cog.timeMs).toFixed(3)}× |`,
      ...(online ? [`| vdit CUDA W4A8 + online tile selection, keep 0.5 (\`--prune keep=0.5,select=online\`: tile_select + sparse mma attention) | ` +
        `${online.timeMs.toFixed(1)} | ${(torch.medianMs / online.timeMs).toFixed(3)}× |`] : []),
      ...(cogF32 ? [`| vdit CUDA f32 (f32 gemm, f32 flash attention; ${cogF32.buffers ? `${(cogF32.buffers.totalBytes / 2 ** 20).toFixed(0)} MiB of device buffers; ` : ''}it shared the card with evaluations, so its time is an upper bound) | ` +
        `${cogF32.timeMs.toFixed(1)} | ${(torch.medianMs / cogF32.timeMs).toFixed(3)}× |`] : []), '',
      'CUDA W4A8, time per kernel (one profiled forward):', '', ...byKernel(cog), '',
      ...(online ? ['CUDA W4A8 + online keep 0.5, time per kernel:', '', ...byKernel(online), ''] : []));
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
