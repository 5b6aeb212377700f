import { graph, toposort } from '../ir/index.ts';
import { bumpStat, definePass } from './pass.ts';

/*
 * Graphs are rooted at their outputs and nodes know only their sources, so an unused value cannot be part of a
 * graph: dead code disappears by construction the moment nothing refers to it. This pass therefore only rebuilds
 * the graph from its outputs and counts what that dropped (always 0 for graphs built through graph()). It stays a
 * named pass so pipelines written for other compilers ("canonicalize,dce,...") keep working, and so a graph
 * object assembled by hand with extra fields is normalised. Unused graph *inputs* are kept: they are the signature.
 */
export const dce = definePass({
  name: 'dce',
  description: 'drop nodes unreachable from the outputs (a no-op on output-rooted graphs; reports dce.removed)',
  run: (g, ctx) => {
    const before = toposort(g).length;
    const rebuilt = graph(g.name, g.inputs, g.outputs);
    const removed = before - toposort(rebuilt).length;
    bumpStat(ctx, 'dce.removed', removed);
    return removed === 0 ? g : rebuilt;
  },
});
