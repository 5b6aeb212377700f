import { describe, expect, it } from 'vitest';
import { graph, toposort } from '../../ir/graph.ts';
import { node } from '../../ir/node.ts';
import { scheduleLiveness } from '../../runtime/schedule-liveness.ts';
import { tensorType } from '../../ir/types.ts';
import { lazyAttention } from '../passes/lazy-attention.ts';

describe('scheduleLiveness', () => {
  // ranges: 0 dense, 1 the first pruned step (selects), 2 pruned (passes/prune-residual.ts, cache=lazy)
  const { g } = lazyAttention();
  const live = scheduleLiveness(g)!;
  const needed = (op: string, pick = 0): readonly boolean[] =>
    live.needed.get(toposort(g).filter((n) => n.op === op)[pick]!)!;
  const sparse = toposort(g).filter((n) => n.op === 'sparse_attention');
  const dense = sparse.find((n) => n.src.length === 5)!;
  const pruned = sparse.find((n) => n.src.length === 4)!;

  it('finds the one schedule: t and its bounds', () => {
    expect(live.t.attrs['name']).toBe('t');
    expect(live.bounds).toEqual([0.7, 0.3]);
  });

  it('the dense part only at dense steps, the sparse part only at pruned ones, the pooled keys only where tiles are selected', () => {
    expect(live.needed.get(dense)).toEqual([true, false, false]);
    expect(live.needed.get(pruned)).toEqual([false, true, true]);
    // tile_select runs at dense steps too: its empty lists reach the carried lists there
    expect(needed('tile_select')).toEqual([true, true, false]);
    expect(needed('reduce_mean')).toEqual([false, true, false]);
    // the graph's outputs and t: always
    g.outputs.forEach((o) => expect(live.needed.get(o)).toEqual([true, true, true]));
    expect(live.needed.get(live.t)).toEqual([true, true, true]);
  });

  it('none without a schedule, or with two', () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [2, 3]));
    expect(scheduleLiveness(graph('plain', [x], [node('exp', [x])]))).toBeUndefined();
    const t = node('input', [], { name: 't' }, tensorType('f32', [2]));
    const a = node('schedule_value', [t], { values: [1, 0], bounds: [0.5] });
    const b = node('schedule_value', [t], { values: [1, 0, 1], bounds: [0.6, 0.2] });
    expect(scheduleLiveness(graph('two', [t], [node('add', [a, b])]))).toBeUndefined();
  });
});
