import type { Graph } from '../../ir/graph.ts';
import { parseQuantSetting, quantSettingName } from '../../ir/quant.ts';
import { verify } from '../../ir/verify.ts';
import { parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { pruneTokens, withTensors, type PrunedBlock, type PruneTokensOptions } from '../../passes/prune-tokens.ts';
import { builtinPasses } from '../../passes/registry.ts';
import type { LinearStats } from '../quant/linear-stats.ts';
import {
  applyMethod, calibrate, isQuantMethod, needsCalibration, QUANT_METHODS, type MethodModel, type QuantMethod,
} from '../quant/method-transform.ts';
import { methodReport, type MethodReport } from '../quant/method-report.ts';
import { quantizationReport, quantizeWeights } from '../quant/quantized-weights.ts';
import { profileConfig, type QuantConfig } from '../quant/spec.ts';
import type { Weights } from '../weights/weights.ts';

/*
 * The quantized build shared by `vdit compile` (written to a folder) and `vdit eval --quant` (run in memory): the
 * deployment profile of compiler/quant/spec.ts at a base setting, with `--keep-fp` layers excluded.
 */

/**
 * Quantization precisions `vdit compile --quant` accepts; 'none' keeps every linear FP. w4a8-fp8: per-token FP8
 * (e4m3) activations over the same int4 weights, for FP8 tensor cores (ir/quant.ts ActFormat).
 */
export const COMPILE_QUANTS = ['w4a6', 'w4a8', 'w8a8', 'w4a4', 'w4a8-fp8', 'none'] as const;
/**
 * Weight/activation quantization methods: RTN and the lineage's baselines (compiler/quant/method-transform.ts), and
 * S²Q-VDiT (compiler/quant/s2q/), whose trajectories and distillation run before the build (compiler/compile/s2q-build.ts).
 */
export const COMPILE_METHODS = [...QUANT_METHODS, 's2q'] as const;

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

/**
 * Calibration for methods that need it: precomputed stats, or `count` seeded FP forwards of the graph; s2q brings
 * its finished method model and what its calibration cost.
 */
export interface BuildCalibration {
  /** attention K/V tile pruning from calibrated importance (passes/prune-tokens.ts), after the method's rewrite */
  readonly prune?: PruneTokensOptions;
  readonly model?: MethodModel;
  readonly ms?: number;
  readonly inputs?: number;
  readonly stats?: ReadonlyMap<string, LinearStats>;
  readonly count?: number;
  readonly seed?: number;
}

/**
 * The lowered graph (qgemm, fused elementwise) and its weights, quantized lazily on first request: the FP model is
 * first rewritten for `method` (smoothing / rotation, exact in FP), calibrated on seeded inputs when the method
 * needs statistics, then Q/DQ-inserted and fused; `report` says what stayed online and what calibration cost.
 */
export function lowerQuantized(
  graph: Graph, weights: Weights, quant: string, keepFp: readonly string[] = [], method = 'rtn',
  calibration: BuildCalibration = {},
): { graph: Graph; weights: Weights; report: MethodReport; pruned?: readonly PrunedBlock[] } {
  if (!(COMPILE_METHODS as readonly string[]).includes(method)) {
    throw new Error(`--method '${method}' is not one of ${COMPILE_METHODS.join(', ')}`);
  }
  if (method === 's2q' && quant !== 'none' && !calibration.model) {
    throw new Error('--method s2q needs its calibration run first (compiler/compile/s2q-build.ts)');
  }
  const config = compileQuantConfig(quant, keepFp);
  let [stats, calibrationMs, inputs] = [calibration.stats, calibration.ms ?? 0, calibration.inputs ?? 0];
  if (quant !== 'none' && isQuantMethod(method) && needsCalibration(method) && !stats) {
    inputs = calibration.count ?? 2;
    const seed = calibration.seed === undefined ? {} : { seed: calibration.seed };
    const c = calibrate(graph, weights, config, { count: inputs, hessian: method === 'gptq', ...seed });
    [stats, calibrationMs] = [c.stats, c.ms];
  }
  const m = quant === 'none' ? applyMethod(graph, weights, config, 'rtn')
    : calibration.model ?? applyMethod(graph, weights, config, method as QuantMethod, stats);
  const pr = calibration.prune ? pruneTokens(m.graph, calibration.prune) : undefined;
  const fp = pr?.graph ?? m.graph;
  const fpWeights = pr ? withTensors(m.weights, pr.tensors) : m.weights;
  const lowered = runCompilePipeline(fp, compilePipeline(quant, keepFp), m.rewriteQdq);
  // the FP graph names the layers: after fuse-int4-gemm no dequantize pair is left to read them from
  const qweights = quant === 'none' ? fpWeights : quantizeWeights(fp, fpWeights, config, m.quantizer);
  const report = methodReport(quant === 'none' ? 'rtn' : method, lowered, m.transforms, calibrationMs, inputs);
  return { graph: lowered, weights: qweights, report, ...(pr ? { pruned: pr.report } : {}) };
}

/** The pipeline, with the method's rewrite between insert-qdq and fuse-int4-gemm when it has one. */
function runCompilePipeline(g: Graph, text: string, rewriteQdq?: (g: Graph) => Graph): Graph {
  const run = (gr: Graph, t: string): Graph => runPipeline(gr, parsePipeline(t, new Map(builtinPasses())), { verify }).graph;
  const at = text.indexOf(',fuse-int4-gemm');
  if (!rewriteQdq || at < 0) return run(g, text);
  const qdq = rewriteQdq(run(g, text.slice(0, at)));
  verify(qdq);
  return run(qdq, text.slice(at + 1));
}

/** The record of a build of graph (byte accounting only: shapes suffice). */
export function describeBuild(graph: Graph, quant: string, method: string, keepFp: readonly string[] = []): QuantBuild {
  const q = checkCompileOptions(quant, method);
  const totals = quantizationReport(graph, compileQuantConfig(q, keepFp)).totals;
  return { setting: q, method, keepFp: [...keepFp], pipeline: compilePipeline(q, keepFp),
    compressionRatio: totals.compressionRatio };
}
