import { writeFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { runBench } from '../bench/bench-run.ts';
import { formatBench } from '../bench/format-bench.ts';
import { STEP_BUILDS } from '../bench/step-bench.ts';

interface BenchArgs {
  model: string;
  quant: string;
  repeats: number;
  warmup: number;
  json: boolean;
  out?: string;
  file?: string;
  step: boolean;
  shapes: boolean;
  builds?: string;
  qgemmVariant?: string;
  weights: string;
  seed: number;
  only?: string;
}

const list = (s: string): string[] => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);

export const benchCommand = {
  command: 'bench [model] [file]',
  describe: 'time every qgemm variant, the f16 and f32 GEMMs on the model\'s linear shapes, and (--step) full forwards',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', default: 'cogvideox-2b', describe: 'preset name or IR text file' })
      .option('quant', { type: 'string', default: 'w4a8,w4a6', describe: 'quantized settings to time, comma-separated' })
      .option('repeats', { type: 'number', default: 10, describe: 'timed runs per measurement (median)' })
      .option('warmup', { type: 'number', default: 3, describe: 'untimed runs before them' })
      // --json is the global boolean, so in `--json out.json` the path arrives as the positional `file`
      .positional('file', { type: 'string', describe: 'with --json: write the full results here, not to stdout' })
      .option('out', { type: 'string', describe: 'write the full results as JSON to this file' })
      .option('shapes', { type: 'boolean', default: true, describe: 'GEMM table over the model\'s linear shapes (--no-shapes skips it)' })
      .option('step', { type: 'boolean', default: false, describe: 'also one full denoising forward per build' })
      .option('builds', { type: 'string', describe: `step builds, comma-separated (${STEP_BUILDS.join(', ')}, each optionally @keep=F: self-attention pruned to F of its key tiles, for timing, or @online=F: chosen at run time by tile_select); default f32, f16 and --quant` })
      .option('qgemm-variant', { type: 'string', describe: 'force the qgemm kernel in the quantized step builds' })
      .option('weights', { type: 'string', default: 'seeded', describe: "safetensors file, or 'seeded' (default)" })
      .option('only', { type: 'string', describe: 'only these shapes, MxKxN comma-separated' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random inputs' }),
  handler: async (args: BenchArgs) => {
    const quants = list(args.quant);
    const { model, out } = resolveOutput(args);
    const report = await runBench({
      model, weights: args.weights, quants, warmup: args.warmup, repeats: args.repeats,
      shapes: args.shapes, step: args.step, builds: args.builds ? list(args.builds) : ['f32', 'f16', ...quants],
      seed: args.seed, progress: (l) => process.stderr.write(`bench: ${l}\n`),
      ...(args.qgemmVariant ? { qgemmVariant: args.qgemmVariant } : {}),
      ...(args.only ? { only: list(args.only) } : {}),
    });
    const json = `${JSON.stringify(report, null, 1)}\n`;
    if (out) {
      writeFileSync(out, json);
      process.stderr.write(`bench: wrote ${out}\n`);
    }
    process.stdout.write(args.json && !out ? json : `${formatBench(report)}\n`);
  },
};

/** `bench --json out.json` (no model) parses out.json as the model: take it back as the output file. */
function resolveOutput(args: BenchArgs): { model: string; out?: string } {
  const file = args.out ?? (args.json ? args.file : undefined);
  if (args.file && !args.json && !args.out) throw new Error(`unexpected argument '${args.file}' (results file: --json FILE or --out FILE)`);
  if (args.json && !args.file && args.model.endsWith('.json') && !args.out) return { model: 'cogvideox-2b', out: args.model };
  return file ? { model: args.model, out: file } : { model: args.model };
}
