import type { Graph } from '../../ir/graph.ts';
import { toposort } from '../../ir/graph.ts';
import { verify } from '../../ir/verify.ts';
import { parsePipeline, runPipeline } from '../../passes/pipeline.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { compilePipeline } from '../compile/quant-build.ts';

/** One distinct quantized linear of a model: y[M, N] = x[M, K] · w[N, K]ᵀ, M = tokens · batch. */
export interface GemmShape {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** how many linears of the model have this shape */
  readonly count: number;
  readonly wDtype: 'i4' | 'i8';
}

export function shapeName(s: Pick<GemmShape, 'm' | 'k' | 'n'>): string {
  return `${s.m}x${s.k}x${s.n}`;
}

/** Multiply-adds × 2 of one GEMM. */
export function gemmOps(s: Pick<GemmShape, 'm' | 'k' | 'n'>): number {
  return 2 * s.m * s.k * s.n;
}

/**
 * The linears the quantized pipeline turns into qgemm (the ones vdit quantizes), by distinct shape, the largest
 * total work first. The graph is lowered symbolically: no weights are touched.
 */
export function modelGemmShapes(graph: Graph, quant = 'w4a8'): GemmShape[] {
  const lowered = runPipeline(graph, parsePipeline(compilePipeline(quant), new Map(builtinPasses())), { verify }).graph;
  const by = new Map<string, { m: number; k: number; n: number; count: number; wDtype: 'i4' | 'i8' }>();
  for (const node of toposort(lowered)) {
    if (node.op !== 'qgemm') continue;
    const k = node.src[0]!.type.shape.at(-1)!;
    const n = node.type.shape.at(-1)!;
    const m = node.type.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const wDtype = node.src[2]!.type.dtype === 'i8' ? 'i8' : 'i4';
    const key = `${shapeName({ m, k, n })}:${wDtype}`;
    const hit = by.get(key);
    if (hit) hit.count++;
    else by.set(key, { m, k, n, count: 1, wDtype });
  }
  return [...by.values()].sort((a, b) => gemmOps(b) * b.count - gemmOps(a) * a.count);
}
