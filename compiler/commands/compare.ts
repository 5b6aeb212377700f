import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { renderCompareHtml } from '../compare/compare-html.ts';
import { buildCompare, runCompare, type CompareBuild } from '../compare/compare-run.ts';
import { cudaKernel } from '../compare/cuda-column.ts';
import { formatCompare, kernelLabel } from '../compare/format-compare.ts';
import { findRow } from '../compare/kernel-rows.ts';
import { sideBySide, terminalWidth } from '../compare/side-by-side.ts';
import { toleranceFor } from '../compare/tolerance.ts';
import { checkCompileOptions, COMPILE_METHODS, COMPILE_QUANTS } from '../compile/compile-model.ts';
import { createProgress } from '../generate/progress.ts';
import { splitPatternList } from '../quant/spec.ts';
import { writeFileAtomic } from '../video/atomic.ts';
import { KEEP_FP_OPTION } from './compile.ts';
import { CliExit, emit, fmt, type GlobalArgs, WEIGHTS_OPTION } from './output.ts';

interface CompareArgs extends GlobalArgs {
  model: string;
  quant: string;
  method: string;
  keepFp?: string;
  weights?: string;
  show?: string;
  html?: string;
  seed: number;
  warmup: number;
  repeats: number;
  cudaEmulate?: string;
}

export const compareCommand = {
  command: 'compare [model]',
  describe: 'check every kernel of the compiled model on Dawn against the CPU reference and time it',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', default: 'tiny', describe: 'preset name or IR text file' })
      .option('quant', { type: 'string', default: 'w4a8', describe: `precision: ${COMPILE_QUANTS.join('|')}` })
      .option('method', {
        type: 'string', default: 'rtn', describe: `quantization method: ${COMPILE_METHODS.join('|')}`,
      })
      .option('keep-fp', KEEP_FP_OPTION)
      .option('weights', WEIGHTS_OPTION)
      .option('show', {
        type: 'string', describe: "print one kernel's WGSL and CUDA source side by side (row # or name); runs nothing",
      })
      .option('html', { type: 'string', describe: 'also write a self-contained HTML report (table + time chart)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random operands' })
      .option('warmup', { type: 'number', default: 2, describe: 'untimed dispatches per kernel before the timed ones' })
      .option('repeats', { type: 'number', default: 5, describe: 'timed dispatches per kernel (median)' })
      .option('cuda-emulate', {
        type: 'string', describe: 'run the CUDA columns on the CPU: g++ against this shim (test/targets/cuda/emulate/' +
          'cuda-host.h; env VDIT_CUDA_EMULATE); without it they need nvcc and an NVIDIA GPU',
      }),
  handler: async (args: CompareArgs) => {
    for (const k of ['warmup', 'repeats', 'seed'] as const) {
      const min = k === 'repeats' ? 1 : 0;
      if (!Number.isInteger(args[k]) || args[k] < min) {
        throw new Error(`--${k} must be an integer ≥ ${min}, got ${args[k]}`);
      }
    }
    checkCompileOptions(args.quant, args.method);
    const gpu = await openDevice();
    try {
      const build = buildCompare(gpu, {
        model: args.model, quant: args.quant, method: args.method, keepFp: splitPatternList(args.keepFp ?? ''),
        ...(args.weights ? { weights: args.weights } : {}),
      });
      if (args.show !== undefined) return show(args, build);
      const progress = createProgress('compare', build.rows.length, args.json);
      const emulate = args.cudaEmulate ?? process.env['VDIT_CUDA_EMULATE'];
      const report = await runCompare(gpu, build, {
        seed: args.seed, warmup: args.warmup, repeats: args.repeats, progress: (done, ms) => progress.update(done, ms),
        ...(emulate ? { cudaEmulate: resolve(emulate) } : {}),
      });
      progress.stop();
      if (args.html) {
        writeFileAtomic(args.html, renderCompareHtml(report));
        if (!args.json) process.stderr.write(`compare: wrote ${resolve(args.html)}\n`);
      }
      emit(args, report, () => formatCompare(report));
      if (report.rows.some((x) => !x.ok || x.cuda.ok === false)) throw new CliExit(1);
    } finally {
      closeDevice(gpu);
    }
  },
};

/** --show: the row's WGSL (as compiled for this device) beside its CUDA source; nothing is run. */
function show(args: CompareArgs, b: CompareBuild): void {
  const row = findRow(b.rows, args.show!);
  const cuda = cudaKernel(row.node);
  const cudaText = typeof cuda === 'string' ? `// ${cuda}` : cuda.source;
  const tol = toleranceFor(row.node);
  const json = { index: row.index, name: row.name, op: row.op, shape: row.shape, count: row.count, tolerance: tol,
    wgsl: { entry: row.spec.entry, source: row.spec.source },
    cuda: typeof cuda === 'string' ? { error: cuda }
      : { entry: cuda.entry, grid: cuda.grid, block: cuda.block, source: cuda.source } };
  emit(args, json, () => [
    `#${row.index} ${kernelLabel(row)} ${row.shape}, ${row.count} dispatch(es) per forward of ${b.model} ${b.quant}`,
    `tolerance vs the CPU reference: ${fmt(tol.atol, 2)} + ${fmt(tol.rtol, 2)}·|ref| (${tol.why})`,
    typeof cuda === 'string' ? `CUDA: ${cuda}` : `CUDA launch: ${cuda.grid[0]} blocks of ${cuda.block[0]}×` +
      `${cuda.block[1]} threads; vdit compare (no --show) checks and times it through the CUDA runner`,
    '',
    sideBySide(row.spec.source, cudaText, terminalWidth(),
      [`WGSL ${row.spec.entry}`, typeof cuda === 'string' ? 'CUDA' : `CUDA ${cuda.entry}`]),
  ].join('\n'));
}
