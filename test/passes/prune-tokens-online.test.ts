import { describe, expect, it } from 'vitest';
import { seededInputs } from '../../compiler/inputs.ts';
import { buildDiT } from '../../compiler/model/dit.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { graph, stats, substitute, tensorType, toposort, verify, node, type Node } from '../../ir/index.ts';
import { blockSelfAttentions, pruneTokens, withTensors } from '../../passes/prune-tokens.ts';
import { runReference } from '../../runtime/reference.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { narrowTinySmallClip } from '../compiler/model/narrow-tiny.ts';
import { expectClose } from '../runtime/reference-helpers.ts';

describe('online pruneTokens on a small DiT', () => {
  const dense = buildDiT(narrowTinySmallClip(1));
  const attns = blockSelfAttentions(dense);
  const a0 = attns.get(0)!;
  const [B, H, Nq] = a0.src[0]!.type.shape as [number, number, number];
  const Nk = a0.src[1]!.type.shape[2]!;
  const weights = seededWeights(dense, 3);
  const inputs = seededInputs(dense, 4);

  it('rewrites each block self-attention into sparse_attention over tile_select, with no tensors', () => {
    const out = pruneTokens(dense, { keep: 0.5, tile: 4, keepFirst: 0, online: true });
    verify(out.graph);
    expect(stats(out.graph)['attention'] ?? 0).toBe((stats(dense)['attention'] ?? 0) - attns.size);
    expect(stats(out.graph)['sparse_attention']).toBe(attns.size);
    expect(stats(out.graph)['tile_select']).toBe(attns.size);
    expect(out.tensors.size).toBe(0);
    const total = Math.ceil(Nk / 4);
    expect(out.report.map((r) => [r.block, r.online?.tilesPerQueryTile, r.totalTiles, r.keptFraction]))
      .toEqual([...attns.keys()].map((b) => [b, total / 2, total, 0.5]));
    // keep = 1: dense is the same function and cheaper
    expect(pruneTokens(dense, { keep: 1, tile: 4, online: true }).graph).toBe(dense);
    expect(() => pruneTokens(dense, { keep: 0, online: true })).toThrow(/keep must be in \(0, 1\]/);
  });

  it('equals dense attention masked per query tile by the lists tile_select chose, on the reference', () => {
    const out = pruneTokens(dense, { keep: 0.5, tile: 4, keepFirst: 3, online: true });
    const selects = toposort(out.graph).filter((n) => n.op === 'tile_select');
    const withLists = graph(out.graph.name, out.graph.inputs, [...out.graph.outputs, ...selects]);
    const res = runReference(withLists, inputs, weights);
    const got = res[0]!;
    const lists = res.slice(out.graph.outputs.length);
    // each block's lists as an additive mask [B, H, Nq, Nk] on its dense self-attention
    const swaps = new Map<Node, Node>();
    const masks = new Map<string, Tensor>();
    [...attns.keys()].sort((x, y) => x - y).forEach((b, i) => {
      const l = lists[i]!;
      const [QT, T] = [l.type.shape[2]!, l.type.shape[3]!];
      const m = new Float32Array(B * H * Nq * Nk).fill(-Infinity);
      for (let bh = 0; bh < B * H; bh++) {
        for (let q = 0; q < Nq; q++) {
          const row = l.data.subarray((bh * QT + Math.floor(q / 4)) * T, (bh * QT + Math.floor(q / 4) + 1) * T);
          expect(Array.from(row.subarray(0, 1))).toEqual([0]); // keepFirst 3: tile 0 always
          for (const t of row) m.fill(0, (bh * Nq + q) * Nk + t * 4, (bh * Nq + q) * Nk + Math.min(t * 4 + 4, Nk));
        }
      }
      const p = node('param', [], { name: `mask.${b}` }, tensorType('f32', [B, H, Nq, Nk]));
      masks.set(`mask.${b}`, tensor(p.type, m));
      swaps.set(attns.get(b)!, node('attention', [...attns.get(b)!.src, p], attns.get(b)!.attrs));
    });
    const want = runReference(substitute(dense, swaps), inputs, withTensors(weights, masks))[0]!;
    expectClose(got.data, want.data, 2e-7, 1e-6);
    // not vacuous: the lists differ across heads or query tiles, and pruning moved the output
    expect(new Set(lists.flatMap((l) => Array.from({ length: l.data.length / l.type.shape[3]! },
      (_, r) => l.data.subarray(r * l.type.shape[3]!, (r + 1) * l.type.shape[3]!).join()))).size).toBeGreaterThan(1);
    const full = runReference(dense, inputs, weights)[0]!;
    expect(Math.max(...Array.from(got.data, (x, i) => Math.abs(x - full.data[i]!)))).toBeGreaterThan(2e-5);
  });
});
