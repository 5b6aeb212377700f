import type { Graph } from '../../ir/graph.ts';
import { parseQuantSetting, quantSettingName } from '../../ir/quant.ts';
import { verify } from '../../ir/verify.ts';
import { parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { quantizationReport, quantizeWeights } from '../quant/quantized-weights.ts';
import { profileConfig, type QuantConfig } from '../quant/spec.ts';
import type { Weights } from '../weights/weights.ts';

/*
 * The quantized build shared by `vdit compile` (written to a folder) and `vdit eval --quant` (run in memory): the
 * deployment profile of compiler/quant/spec.ts at a base setting, with `--keep-fp` layers excluded.
 */

/** Quantization precisions `vdit compile --quant` accepts; 'none' keeps every linear FP. */
export const COMPILE_QUANTS = ['w4a6', 'w4a8', 'w8a8', 'w4a4', 'none'] as const;
export const COMPILE_METHODS = ['rtn'] as const;

/** What one quantized build is: recorded in compile reports and eval results. */
export interface QuantBuild {
  /** base setting (`w4a6`) or 'none' */
  readonly setting: string;
  readonly method: string;
  /** layer globs kept FP on top of the profile's exclusions */
  readonly keepFp: readonly string[];
  readonly pipeline: string;
  /** FP16 bytes of all weights over stored bytes (packed weights + scales, the rest at FP16) */
  readonly compressionRatio: number;
}

export function checkCompileOptions(quant: string, method: string): string {
  const q = quant.trim().toLowerCase();
  if (!(COMPILE_QUANTS as readonly string[]).includes(q)) {
    throw new Error(`--quant '${quant}' is not one of ${COMPILE_QUANTS.join(', ')}`);
  }
  if (!(COMPILE_METHODS as readonly string[]).includes(method)) {
    throw new Error(`--method '${method}' is not one of ${COMPILE_METHODS.join(', ')}`);
  }
  return q === 'none' ? q : quantSettingName(parseQuantSetting(q));
}

/** The layer config of a build; 'none' quantizes no layer, so every weight counts at FP16. */
export function compileQuantConfig(quant: string, keepFp: readonly string[] = []): QuantConfig {
  return quant === 'none' ? { setting: 'w4a6', include: [] } : profileConfig('deploy', quant, keepFp);
}

/** The pass pipeline of a build: FP models skip the Q/DQ insertion and the int4 GEMM fusion. */
export function compilePipeline(quant: string, keepFp: readonly string[] = []): string {
  if (quant === 'none') return 'canonicalize,dce,fuse-elementwise';
  const keep = keepFp.length ? `,keep-fp=${JSON.stringify(keepFp.join(';'))}` : '';
  return `canonicalize,insert-qdq{quant=${quant},profile=deploy${keep}},fuse-int4-gemm,dce,fuse-elementwise`;
}

/** The lowered graph (qgemm, fused elementwise) and its weights, quantized lazily by RTN on first request. */
export function lowerQuantized(
  graph: Graph, weights: Weights, quant: string, keepFp: readonly string[] = [],
): { graph: Graph; weights: Weights } {
  const pipeline = parsePipeline(compilePipeline(quant, keepFp), new Map(builtinPasses()));
  const lowered = runPipeline(graph, pipeline, { verify }).graph;
  // the FP graph names the layers: after fuse-int4-gemm no dequantize pair is left to read them from
  const qweights = quant === 'none' ? weights : quantizeWeights(graph, weights, compileQuantConfig(quant, keepFp));
  return { graph: lowered, weights: qweights };
}

/** The record of a build of graph (byte accounting only: shapes suffice). */
export function describeBuild(graph: Graph, quant: string, method: string, keepFp: readonly string[] = []): QuantBuild {
  const q = checkCompileOptions(quant, method);
  const totals = quantizationReport(graph, compileQuantConfig(q, keepFp)).totals;
  return { setting: q, method, keepFp: [...keepFp], pipeline: compilePipeline(q, keepFp),
    compressionRatio: totals.compressionRatio };
}
