import type { BenchReport } from './bench-run.ts';
import { fpMs, speedup } from './format-bench.ts';
import type { GemmResult } from './gemm-bench.ts';
import { gemmOps } from './gemm-shapes.ts';

/** bench/torch_linear.py output: PyTorch bf16 F.linear and int8 _int_mm per shape. */
export interface TorchLinear {
  readonly framework: string;
  readonly cuda: string;
  readonly device: string;
  readonly shapes: readonly {
    m: number; k: number; n: number;
    bf16: { medianMs: number; tflops: number };
    int8?: { medianMs: number; tops: number } | { error: string };
  }[];
  readonly forward?: { medianMs: number; framework: string; peakMemoryBytes: number };
}

const f = (x: number | undefined, d = 2): string => (x === undefined ? '–' : x.toFixed(d));
const torchOf = (t: TorchLinear | undefined, g: { m: number; k: number; n: number }) =>
  t?.shapes.find((s) => s.m === g.m && s.k === g.k && s.n === g.n);

function header(r: BenchReport, t: TorchLinear | undefined, gpuText: string | undefined): string[] {
  const d = r.device;
  const cfgs = d.subgroupMatrixConfigs.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`);
  return [
    `# vdit bench: ${r.model} quantized GEMMs${r.step.length ? ' and one denoising step' : ''}`, '',
    `Card: ${gpuText ?? d.adapter.device} (adapter "${d.adapter.description}", ${d.adapter.device}).`,
    `Dawn: npm \`webgpu\` ${d.versions.webgpu}, Node ${d.versions.node}; flags \`${d.flags.join(' ')}\`.`,
    `Features: ${d.features.join(', ')}. Subgroup sizes ${d.subgroupMinSize}..${d.subgroupMaxSize}; matrix configs: ${cfgs.join(', ') || 'none'}.`,
    t ? `PyTorch: ${t.framework}, CUDA ${t.cuda}, ${t.device}.` : 'PyTorch: not measured in this run.',
    `Peaks: ${r.peak ? `${r.peak.card}, ${r.peak.int8Tops} TOPS INT8 and ${r.peak.bf16Tflops} TFLOP/s bf16, dense` : 'card not in compiler/bench/peaks.ts'}.`,
    `vdit timing: GPU timestamps per dispatch, median of ${r.options.repeats} after ${r.options.warmup} warm-up; ` +
      `weights ${r.weights}; run ${r.date}.`,
  ];
}

function exactTable(r: BenchReport): string[] {
  if (!r.exactness.length) return [];
  return ['', '## Exactness of each qgemm variant (unit scales, integer sums vs the CPU reference)', '',
    '| variant | shape | result |', '|---|---|---|',
    ...r.exactness.map((e) => `| ${e.variant} | ${e.shape} | ${e.skipped ? `skipped: ${e.skipped}` : e.error ? `**failed**: ${e.error}` : e.exact ? 'exact' : `**${e.mismatches} mismatches**`} |`)];
}

function gemmTable(r: BenchReport, t: TorchLinear | undefined): string[] {
  const out = ['', '## GEMMs on the model\'s linear shapes', '',
    '| shape M×K×N | ×count | build | variant | ms | TOP/s | % INT8 peak | vs torch bf16 | vs torch int8 | vs our f16 | vs our f32 |',
    '|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const g of r.gemms) {
    const ts = torchOf(t, g);
    const i8 = ts?.int8 && 'medianMs' in ts.int8 ? ts.int8.medianMs : undefined;
    if (g.skipped || g.error) {
      out.push(`| ${g.shape} | ${g.count} | ${g.build} | ${g.variant} | ${g.skipped ? `skipped: ${g.skipped}` : `**failed**: ${g.error}`} ||||||`);
      continue;
    }
    out.push(`| ${g.shape} | ${g.count} | ${g.build} | ${g.variant} | ${f(g.medianMs, 3)} | ${f(g.tops, 1)} | ${f(g.pctInt8Peak)} | ` +
      `${speedup(ts?.bf16.medianMs, g.medianMs)} | ${speedup(i8, g.medianMs)} | ${speedup(fpMs(r.gemms, g.shape, 'f16'), g.medianMs)} | ${speedup(fpMs(r.gemms, g.shape, 'f32'), g.medianMs)} |`);
  }
  if (t) {
    out.push('', '| shape | torch bf16 F.linear ms | TFLOP/s | torch._int_mm int8 ms | TOP/s |', '|---|---:|---:|---:|---:|');
    for (const s of t.shapes) {
      const i8 = s.int8 && 'medianMs' in s.int8 ? `${f(s.int8.medianMs, 3)} | ${f(s.int8.tops, 1)}` : `${s.int8 && 'error' in s.int8 ? s.int8.error.slice(0, 60) : '–'} | –`;
      out.push(`| ${s.m}x${s.k}x${s.n} | ${f(s.bf16.medianMs, 3)} | ${f(s.bf16.tflops, 1)} | ${i8} |`);
    }
  }
  return out;
}

/** Model-level GEMM time of one (build, variant): Σ count · ms over shapes; undefined if any shape lacks it. */
export function modelGemmMs(gemms: readonly GemmResult[], build: string, variant: string): number | undefined {
  const rows = gemms.filter((g) => g.build === build && g.variant === variant);
  const shapes = new Set(gemms.map((g) => g.shape));
  if (rows.length !== shapes.size || rows.some((g) => g.medianMs === undefined)) return undefined;
  return rows.reduce((a, g) => a + g.count * g.medianMs!, 0);
}

function verdicts(r: BenchReport, t: TorchLinear | undefined): string[] {
  const out = ['', '## Done-when figures', ''];
  const shapes = [...new Map(r.gemms.map((g) => [g.shape, g])).values()];
  const torchMs = t && shapes.every((g) => torchOf(t, g)) ? shapes.reduce((a, g) => a + g.count * torchOf(t, g)!.bf16.medianMs, 0) : undefined;
  for (const q of r.options.quants) {
    const sg = modelGemmMs(r.gemms, q, 'sgmat');
    const ratio = sg !== undefined && torchMs !== undefined ? torchMs / sg : undefined;
    const ops = shapes.reduce((a, g) => a + g.count * gemmOps(g), 0);
    out.push(`- ${q} qgemm through INT8 subgroup matrices vs PyTorch bf16 F.linear, all linears of one forward ` +
      `(${(ops / 1e12).toFixed(1)} TOP): ${ratio === undefined ? 'not measured (a variant or PyTorch figure is missing)' : `${ratio.toFixed(3)}× (${ratio >= 1 ? 'met' : 'NOT met'}; target ≥ 1.0×)`}.`);
  }
  const f16 = r.step.find((s) => s.build === 'f16')?.gpuMs;
  const w8 = r.step.find((s) => s.build === 'w4a8')?.gpuMs;
  if (r.step.length) {
    out.push(`- W4A8 denoising step vs our f16 build: ${f16 && w8 ? `${(f16 / w8).toFixed(3)}× faster (${f16 / w8 >= 1.3 ? 'met' : 'NOT met'}; target ≥ 1.3×)` : 'not measured'}.`);
  }
  return out;
}

function stepTable(r: BenchReport, t: TorchLinear | undefined): string[] {
  if (!r.step.length) return [];
  const f16 = r.step.find((s) => s.build === 'f16')?.gpuMs;
  const out = ['', '## One full denoising forward per build', '',
    '| build | storage | GPU ms (Σ dispatches) | wall ms | vs our f16 | peak GPU MiB | params MiB | activations MiB | top op kinds |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|'];
  for (const s of r.step) {
    if (s.skipped || s.error) {
      out.push(`| ${s.build} | | ${s.skipped ? `skipped: ${s.skipped}` : `**failed**: ${s.error}`} |||||||`);
      continue;
    }
    const top = (s.byOp ?? []).slice(0, 5).map((o) => `${o.op} ${o.percent.toFixed(1)}%`).join(', ');
    const mib = (b: number | undefined): string => f(b === undefined ? undefined : b / 2 ** 20, 0);
    out.push(`| ${s.build} | ${s.elem} | ${f(s.gpuMs, 1)} | ${f(s.wallMs, 1)} | ${speedup(f16, s.gpuMs)} | ${mib(s.peakBytes)} | ${mib(s.paramBytes)} | ${mib(s.tempBytes)} | ${top} |`);
  }
  if (t?.forward) {
    out.push(`| PyTorch bf16 (${t.forward.framework}) | bf16 | ${f(t.forward.medianMs, 1)} | | ${speedup(f16, t.forward.medianMs)} | ${f(t.forward.peakMemoryBytes / 2 ** 20, 0)} | | | |`);
  }
  return out;
}

/** The Markdown report of one `vdit bench` JSON, optionally beside bench/torch_linear.py's and nvidia-smi's output. */
export function renderBenchMarkdown(r: BenchReport, torch?: TorchLinear, gpuText?: string): string {
  return [...header(r, torch, gpuText), ...verdicts(r, torch), ...exactTable(r), ...gemmTable(r, torch), ...stepTable(r, torch), '']
    .join('\n');
}
