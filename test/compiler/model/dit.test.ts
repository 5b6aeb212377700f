import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { sincosTable3d } from '../../../compiler/model/embed.ts';
import { getPreset, PRESETS, tinyConfig } from '../../../compiler/model/presets.ts';
import { numel, params, stats, toposort, type Graph, type Node } from '../../../ir/index.ts';
import { verify } from '../../../ir/verify.ts';

const paramCount = (g: Graph) => params(g).reduce((s, p) => s + numel(p.type.shape), 0);
const ofOp = (g: Graph, op: string) => toposort(g).filter((n) => n.op === op);
const shapeOf = (n: Node) => [...n.type.shape];
const paramShapes = (g: Graph) => new Map(params(g).map((p) => [p.attrs['name'] as string, shapeOf(p)]));

describe('buildDiT', () => {
  it('tiny: inputs, output, exact param count, verifies', () => {
    const g = buildDiT(getPreset('tiny'));
    verify(g);
    expect(g.inputs.map((i) => [i.attrs['name'], i.type.dtype, shapeOf(i)])).toEqual([
      ['x', 'f32', [2, 16, 32, 32, 3]],
      ['t', 'f32', [2]],
      ['y', 'i32', [2]],
    ]);
    expect(g.outputs.map(shapeOf)).toEqual([[2, 16, 32, 32, 3]]);
    // patch 96→256; pos_embed 512·256 (fixed table); t mlp 2×(256·256+256); y 49·256; 8 × (adaLN 256·1536+1536, q/k/v/proj 4·(256²+256),
    // q/k rmsnorm 2·64, fc1 256·1024+1024, fc2 1024·256+256); final adaLN 256·512+512, linear 256·96+96
    expect(paramCount(g)).toBe(9_925_216);
    expect(ofOp(g, 'attention').map(shapeOf)).toEqual(Array(8).fill([2, 4, 512, 64]));
  });

  it('tiny: PyTorch-style names and shapes the training script relies on', () => {
    const ps = paramShapes(buildDiT(tinyConfig({ depth: 2 })));
    expect(ps.get('x_embedder.proj.weight')).toEqual([256, 96]);
    expect(ps.get('t_embedder.mlp.0.weight')).toEqual([256, 256]);
    expect(ps.get('t_embedder.mlp.2.bias')).toEqual([256]);
    expect(ps.get('y_embedder.embedding_table.weight')).toEqual([49, 256]);
    expect(ps.get('blocks.1.adaLN_modulation.1.weight')).toEqual([1536, 256]);
    for (const l of ['q', 'k', 'v', 'proj']) expect(ps.get(`blocks.1.attn.${l}.weight`)).toEqual([256, 256]);
    expect(ps.get('blocks.0.attn.q_norm.weight')).toEqual([64]);
    expect(ps.get('blocks.0.mlp.fc1.weight')).toEqual([1024, 256]);
    expect(ps.get('blocks.0.mlp.fc2.weight')).toEqual([256, 1024]);
    expect(ps.get('final_layer.adaLN_modulation.1.weight')).toEqual([512, 256]);
    expect(ps.get('final_layer.linear.weight')).toEqual([96, 256]);
    expect(ps.get('pos_embed')).toEqual([1, 512, 256]);
    expect(ps.size).toBe(8 + 2 * 16 + 4); // top (with pos_embed), 2 blocks (adaLN 2, attn 8, qk norm 2, mlp 4), final
  });

  it('tiny: adaLN linear is not zero-initialised; timestep embedding scales t by 1000', () => {
    const g = buildDiT(tinyConfig({ depth: 1 }));
    const ada = params(g).find((p) => p.attrs['name'] === 'blocks.0.adaLN_modulation.1.weight')!;
    expect(ada.attrs).toMatchObject({ init: 'normal', std: 0.02 });
    expect(ofOp(g, 'timestep_embedding')[0]!.attrs).toMatchObject({ dim: 256, scale: 1000, flip: false });
    expect(ofOp(g, 'rope3d')[0]!.attrs).toMatchObject({ grid: [8, 8, 8], dims: [16, 24, 24], offset: 0 });
  });

  it('unpatchify inverts patchify (permutes compose to identity, shapes agree)', () => {
    const g = buildDiT(tinyConfig({ depth: 1 }));
    const perms = ofOp(g, 'permute').filter((p) => p.type.shape.length === 8);
    expect(perms.map(shapeOf)).toEqual([[2, 8, 8, 8, 2, 4, 4, 3], [2, 8, 2, 8, 4, 8, 4, 3]]);
    const [p1, p2] = perms.map((p) => p.attrs['perm'] as number[]) as [number[], number[]];
    expect(p2.map((a) => p1[a])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(shapeOf(perms[1]!.src[0]!)).toEqual(shapeOf(perms[0]!));
  });

  it('joint with text: text first, rope offset, video tokens kept at the end', () => {
    const g = buildDiT(tinyConfig({ depth: 1, text: { tokens: 5, dim: 24 }, classes: undefined }));
    verify(g);
    expect(g.inputs.map((i) => i.attrs['name'])).toEqual(['x', 't', 'text']);
    expect(ofOp(g, 'attention')[0]!.type.shape).toEqual([2, 4, 517, 64]);
    expect(ofOp(g, 'rope3d')[0]!.attrs['offset']).toBe(5);
    expect(ofOp(g, 'slice').some((s) => s.attrs['start'] === 5 && s.attrs['end'] === 517)).toBe(true);
    expect(g.outputs[0]!.type.shape).toEqual([2, 16, 32, 32, 3]);
  });

  it('factorized: spatial over frames, temporal over positions, cross to text', () => {
    const cfg = tinyConfig({ depth: 2, block: 'factorized', text: { tokens: 6, dim: 24 }, adaLN: 'shared' });
    const g = buildDiT(cfg);
    verify(g);
    const att = ofOp(g, 'attention').map((a) => [shapeOf(a.src[0]!), shapeOf(a.src[1]!)]);
    expect(att).toContainEqual([[16, 4, 64, 64], [16, 4, 64, 64]]); // spatial: B·T' = 16, H'W' = 64
    expect(att).toContainEqual([[128, 4, 8, 64], [128, 4, 8, 64]]); // temporal: B·H'W' = 128, T' = 8
    expect(att).toContainEqual([[2, 4, 512, 64], [2, 4, 6, 64]]); // cross
    expect(ofOp(g, 'attention')).toHaveLength(6);
    const ps = paramShapes(g);
    expect(ps.get('blocks.0.scale_shift_table')).toEqual([6, 256]);
    expect(ps.get('t_block.1.weight')).toEqual([1536, 256]);
    expect(ps.has('blocks.0.adaLN_modulation.1.weight')).toBe(false);
    expect(ps.get('blocks.1.attn_temp.v.weight')).toEqual([256, 256]);
  });

  it('rope null adds a pos_embed table; sincosTable3d fills it in CogVideoX layout [t D/4 | h 3D/8 | w 3D/8]', () => {
    const g = buildDiT(tinyConfig({ depth: 1, rope: null, hidden: 192, heads: 4 }));
    expect(paramShapes(g).get('pos_embed')).toEqual([1, 512, 192]);
    expect(ofOp(g, 'rope3d')).toHaveLength(0);
    const tab = sincosTable3d([2, 3, 4], 16);
    expect(tab).toHaveLength(24 * 16);
    const row = 1 * 12 + 2 * 4 + 3; // token (t=1, h=2, w=3)
    expect(tab[row * 16 + 0]).toBeCloseTo(Math.sin(1)); // t section (width 4), ω_0 = 1
    expect(tab[row * 16 + 2]).toBeCloseTo(Math.cos(1));
    expect(tab[row * 16 + 5]).toBeCloseTo(Math.sin(2 * 10000 ** (-1 / 3))); // h section (width 6) from 4, ω_1
    expect(tab[row * 16 + 13]).toBeCloseTo(Math.cos(3)); // w section from 10, cos half from 13, ω_0
    expect(() => sincosTable3d([2, 3, 4], 12)).toThrow(/divisible by 16/);
  });

  it('posEmbed adds the table next to RoPE (tiny); posEmbed false drops it', () => {
    const tiny = buildDiT(tinyConfig({ depth: 1 }));
    expect(paramShapes(tiny).get('pos_embed')).toEqual([1, 512, 256]);
    expect(ofOp(tiny, 'rope3d').length).toBeGreaterThan(0);
    expect(paramShapes(buildDiT(tinyConfig({ depth: 1, posEmbed: false }))).has('pos_embed')).toBe(false);
  });

});

describe('large presets build and match published sizes', () => {
  const cases: [string, number, number, number[]][] = [
    ['cogvideox-2b', 1.69e9, 0.15, [1, 30, 17776, 64]],
    ['cogvideox-5b', 5.57e9, 0.15, [1, 48, 17776, 64]],
    ['wan2.1-1.3b', 1.3e9, 0.15, [1, 12, 32760, 128]],
    ['opensora-stdit', 0.7e9, 0.2, [1, 16, 4096, 72]],
  ];
  for (const [name, published, tol, attnQ] of cases) {
    it(name, () => {
      const cfg = getPreset(name);
      const t0 = performance.now();
      const g = buildDiT(cfg);
      expect(performance.now() - t0).toBeLessThan(5000);
      verify(g);
      const n = paramCount(g);
      expect(Math.abs(n / published - 1)).toBeLessThan(tol);
      expect(g.outputs[0]!.type.shape).toEqual([cfg.batch, ...cfg.video]);
      expect(g.inputs.map((i) => shapeOf(i))).toContainEqual([cfg.batch, cfg.text!.tokens, cfg.text!.dim]);
      expect(ofOp(g, 'attention').map((a) => shapeOf(a.src[0]!))).toContainEqual(attnQ);
      expect(stats(g).linear).toBeGreaterThan(cfg.depth * 6);
    });
  }
});

it('every preset builds', () => {
  for (const cfg of Object.values(PRESETS)) expect(buildDiT(cfg).outputs).toHaveLength(1);
});
