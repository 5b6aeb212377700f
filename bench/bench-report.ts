// Renders a `vdit bench` run (bench/gpu/bench.sh output: bench.json, torch-linear.json, gpu.txt) as Markdown.
//   npx tsx bench/bench-report.ts bench/results/<run> > bench/results/<run>.md
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from '../compiler/bench/bench-run.ts';
import { renderBenchMarkdown, type TorchLinear } from '../compiler/bench/report-md.ts';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: npx tsx bench/bench-report.ts <results dir with bench.json [torch-linear.json gpu.txt]>\n');
  process.exit(2);
}
const read = (f: string): string | undefined => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined);
const benchText = read('bench.json');
if (!benchText) {
  process.stderr.write(`bench-report: ${join(dir, 'bench.json')} is missing\n`);
  process.exit(1);
}
const bench = JSON.parse(benchText) as BenchReport;
// a step-only run (bench-step.json) is merged in, so one report covers both calls of bench.sh
const stepText = read('bench-step.json');
const merged: BenchReport = stepText ? { ...bench, step: (JSON.parse(stepText) as BenchReport).step } : bench;
const torchText = read('torch-linear.json');
const torch = torchText ? (JSON.parse(torchText) as TorchLinear) : undefined;
process.stdout.write(renderBenchMarkdown(merged, torch, read('gpu.txt')?.trim()));
