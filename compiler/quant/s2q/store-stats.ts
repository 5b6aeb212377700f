import type { Graph } from '../../../ir/graph.ts';
import type { VDiTConfig } from '../../model/config.ts';
import type { Weights } from '../../weights/weights.ts';
import { emptyStats, linearsByInput, type LinearStats } from '../linear-stats.ts';
import { planLinears, type QuantConfig } from '../spec.ts';
import { blockGraph } from './block-graph.ts';
import { statsGraph } from './distill-graph.ts';
import { batchesOf, identityTransforms, runStats } from './distill.ts';
import type { ExecFactory } from './exec.ts';
import type { S2qData } from './s2q.ts';

/*
 * The baselines' calibration statistics (max|X_j| and XᵀX per quantized linear input, compiler/quant/linear-stats.ts)
 * from the same calibration records S²Q trains on, block by block on the device, instead of seeded FP forwards on
 * the CPU. A linear outside the blocks that reads the same activation as one inside (the final layer's adaLN reads
 * silu(c) like every block's) shares its statistics.
 */
export async function storeLinearStats(
  cfg: VDiTConfig, model: Graph, weights: Weights, config: QuantConfig, data: S2qData, exec: ExecFactory, batch = 4,
): Promise<Map<string, LinearStats>> {
  const byWeight = new Map<string, LinearStats>();
  for (let b = 0; b < cfg.depth; b++) {
    const bg = blockGraph({ ...cfg, batch }, b, config);
    const [, tokens, channels] = bg.graph.inputs[0]!.type.shape as [number, number, number];
    const run = await exec(statsGraph(bg).graph);
    try {
      const src = { records: data.records, input: (id: number) => data.input(b, id) };
      const r = await runStats(bg, run, batchesOf(data.records, batch), src, tokens, channels, identityTransforms(bg), true);
      for (const g of bg.groups) {
        const s = emptyStats(g.k);
        s.absMax.set(r.absMax.get(g)!);
        s.xtx.set(r.hessian.get(g)!);
        s.rows = r.rows * (g.kind === 'kron' ? tokens : 1);
        for (const w of g.weights) byWeight.set(w, s);
      }
    } finally {
      run.dispose();
    }
  }
  const names = new Set(planLinears(model, config).quantized.map((p) => p.weight.attrs['name'] as string));
  for (const lins of linearsByInput(model, names).values()) {
    const known = lins.map((l) => byWeight.get(l.src[1]!.attrs['name'] as string)).find((s) => s !== undefined);
    if (known) for (const l of lins) byWeight.set(l.src[1]!.attrs['name'] as string, known);
  }
  return byWeight;
}
