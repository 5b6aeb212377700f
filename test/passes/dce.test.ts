import { describe, expect, it } from 'vitest';
import { graph, node, tensorType, toposort } from '../../ir/index.ts';
import { dce } from '../../passes/index.ts';
import { expectPass, runPass } from './expect-pass.ts';

describe('dce', () => {
  it('is a no-op on output-rooted graphs and reports dce.removed = 0', () => {
    const stats = expectPass(
      dce,
      `
      graph g(%x: f32[4], %unused: f32[2]) {
        %0: f32[4] = exp(%x)
        return %0
      }`,
      `
      graph g(%x: f32[4], %unused: f32[2]) {
        %0: f32[4] = exp(%x)
        return %0
      }`,
    );
    expect(stats.get('dce.removed')).toBe(0);
  });

  it('never sees values nothing uses: building a user-less node does not add it to the graph', () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [4]));
    const dead = node('log', [node('exp', [x])]);
    const g = graph('g', [x], [node('relu', [x])]);
    expect(toposort(g)).not.toContain(dead);
    const out = runPass(dce, g);
    expect(out.graph).toBe(g);
    expect(out.stats.get('dce.removed')).toBe(0);
  });
});
