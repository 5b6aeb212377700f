import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import {
  checkCompileOptions, COMPILE_METHODS, COMPILE_QUANTS, compileModel, type CompileReport,
} from '../compile/compile-model.ts';
import { buildDiT } from '../model/dit.ts';
import { loadModel } from '../models.ts';
import { splitPatternList } from '../quant/spec.ts';
import { emit, fmt, table, type GlobalArgs, WEIGHTS_OPTION } from './output.ts';

interface CompileArgs extends GlobalArgs {
  model: string;
  quant: string;
  method: string;
  target: 'wgsl' | 'cuda';
  output: string;
  weights?: string;
  keepFp?: string;
}

export const compileCommand = {
  command: 'compile <model>',
  describe: 'quantize and compile a model into a self-contained folder (weights.bin, kernels, manifest, run.js)',
  builder: (y: Argv) =>
    y
      .positional('model', { type: 'string', describe: 'preset name or IR text file (class-conditioned)' })
      .option('quant', { type: 'string', default: 'w4a6', describe: `precision: ${COMPILE_QUANTS.join('|')}` })
      .option('method', {
        type: 'string', default: 'rtn',
        describe: `quantization method: ${COMPILE_METHODS.join('|')} (smoothquant, viditq and gptq calibrate on 2 ` +
          'seeded FP forwards)',
      })
      .option('target', {
        choices: ['wgsl', 'cuda'] as const, default: 'wgsl' as const,
        describe: 'cuda: also write cuda/*.cu (one per kernel, header vdit_cuda.cuh, kernels.json) beside the WGSL',
      })
      .option('keep-fp', KEEP_FP_OPTION)
      .option('weights', WEIGHTS_OPTION)
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'folder to write' }),
  handler: async (args: CompileArgs) => {
    checkCompileOptions(args.quant, args.method);
    const model = loadModel(args.model, args.weights ? { weights: args.weights } : {});
    if (model.config && model.config.classes === undefined) throw new Error(`model '${model.name}' is not class-conditioned`);
    // built at the sampling batch: one CFG pair (cond + uncond) per forward
    const graph = model.config ? buildDiT({ ...model.config, batch: 2 }) : model.graph;
    const gpu = await openDevice();
    let report: CompileReport;
    try {
      report = compileModel(graph, model.weights, {
        quant: args.quant, method: args.method, keepFp: splitPatternList(args.keepFp ?? ''), gpu, modelName: model.name,
        target: args.target,
        ...(model.config?.classes !== undefined ? { classes: model.config.classes } : {}),
      }, args.output);
    } finally {
      closeDevice(gpu);
    }
    emit(args, { output: resolve(args.output), ...report }, () => formatReport(args.output, report));
  },
};

export function formatReport(out: string, r: CompileReport): string {
  const t = r.quantization.totals;
  const rows = [['layer', 'shape', 'bits', 'fp16 B', 'stored B', 'rel err'], ...r.quantization.layers.map((l) => [
    l.layer, l.shape.join('x'), `w${l.wBits}a${l.aBits ?? '-'}`, String(l.fp16Bytes), String(l.storedBytes),
    l.relError === null ? '-' : fmt(l.relError),
  ])];
  return [
    `${out}: ${r.model} ${r.quant} (${r.method}) for ${r.adapter}, compiled in ${fmt(r.compileMs / 1000, 3)} s`,
    `pipeline   ${r.pipeline}`,
    ...(r.keepFp.length ? [`kept FP    ${r.keepFp.join(', ')} (--keep-fp)`] : []),
    `kernels    ${r.kernels} distinct, ${r.steps} dispatches per forward`,
    ...methodLines(r.methodReport),
    `weights    FP16 ${t.fp16Bytes} B → ${t.storedBytes} B quantized incl. scales: ${fmt(t.compressionRatio, 3)}x ` +
      `(weights.bin ${r.weightsBytes} B as stored: ${fmt(t.fp16Bytes / r.weightsBytes, 3)}x; FP params are f16 ` +
      'there only where f16 holds them exactly)',
    ...(r.quantization.layers.length ? ['', table(rows)] : []),
  ].join('\n');
}

/** `--keep-fp` of compile and eval: layers kept FP on top of the deployment profile (compiler/quant/spec.ts). */
export const KEEP_FP_OPTION = {
  type: 'string',
  describe: "comma-separated layer globs to keep FP, e.g. '**.adaLN_modulation.*' (the lineage's choice); " +
    'by default the adaLN / t_block linears are W4A8',
} as const;

/** The method's calibration and what it left online (its notes carry the rotation cost); nothing for rtn. */
function methodLines(m: CompileReport['methodReport']): string[] {
  if (m.method === 'rtn') return [];
  const calib = m.calibrationInputs ? `calibration ${fmt(m.calibrationMs / 1000, 3)} s on ${m.calibrationInputs} inputs` : 'no calibration';
  const lines = [`method     ${m.method}: ${calib}`];
  if (m.smoothingFolded + m.smoothingExplicit) {
    lines.push(`smoothing  ${m.smoothingFolded} folded into quantize prologues, ${m.smoothingExplicit} as own kernels`);
  }
  return [...lines, ...m.notes.map((n) => `note       ${n}`)];
}
