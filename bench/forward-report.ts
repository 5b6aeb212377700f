// Renders bench/results/<run>/ (raw JSON from bench/gpu/forward.sh and bench/torch_forward.py) as a Markdown table.
//   npx tsx bench/forward-report.ts bench/results/h100-2026-11-25 > bench/results/h100-cogvideox-2b-forward.md
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aggregateTimings, type KernelTiming } from '../runtime/profile.ts';

interface RunJson {
  model: string;
  dtype: string;
  timeMs: number;
  device?: string;
  kernels?: KernelTiming[];
}

const dir = process.argv[2] ?? 'bench/results/h100-2026-11-25';
const read = <T>(f: string): T | undefined => (existsSync(join(dir, f)) ? (JSON.parse(readFileSync(join(dir, f), 'utf8')) as T) : undefined);
const torch = read<{ medianMs: number; framework: string; cuda: string; params: number; peakMemoryBytes: number }>('torch-bf16.json');
const dev = read<{ adapter: { description: string }; flags: string[]; versions: Record<string, string>; features: string[] }>('devices.json');
const runs = ['f16', 'f32'].map((d) => [d, read<RunJson>(`wgsl-${d}.json`)] as const);
const gpu = readFileSync(join(dir, 'gpu.txt'), 'utf8').trim();

const lines = [
  `# cogvideox-2b: one denoiser forward on the H100 (batch 1, 13×30×45 video + 226 text = 17776 tokens)`,
  '',
  `Card and driver: ${gpu}. Dawn: npm \`webgpu\` ${dev?.versions['webgpu']}, Node ${dev?.versions['node']}, adapter`,
  `"${dev?.adapter.description}", flags \`${dev?.flags.join(' ')}\`; features ${dev?.features.join(', ')}.`,
  `Weights: seeded initialisation (vdit), \`normal_(std=0.02)\` (PyTorch); same architecture (models/torch/vdit.py).`,
  `WGSL time: median wall time of the timed runs after one warm-up run; kernel table: one profiled run (timestamp queries).`,
  '',
  '| build | ms per forward | vs PyTorch bf16 |',
  '|---|---:|---:|',
  `| PyTorch bf16 (${torch?.framework}, CUDA ${torch?.cuda}, SDPA; median of 10 after 3 warm-ups) | ${torch?.medianMs.toFixed(1)} | 1.00× |`,
];
for (const [d, r] of runs) {
  lines.push(r && torch
    ? `| vdit WGSL ${d} storage, f32 accumulate | ${r.timeMs.toFixed(1)} | ${(torch.medianMs / r.timeMs).toFixed(4)}× (${(r.timeMs / torch.medianMs).toFixed(1)}× slower) |`
    : `| vdit WGSL ${d} | not measured (see README.md here) | – |`);
}
for (const [d, r] of runs) {
  if (!r?.kernels) continue;
  const rows = aggregateTimings(r.kernels);
  lines.push('', `## WGSL ${d}: time per kernel`, '', '| kernel | count | ms | % | TFLOP/s |', '|---|---:|---:|---:|---:|');
  for (const k of rows) {
    lines.push(`| ${k.name} | ${k.count} | ${k.totalMs.toFixed(1)} | ${k.percent.toFixed(1)} | ${k.gflops !== undefined ? (k.gflops / 1000).toFixed(2) : '–'} |`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
