import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { getPreset, tinyConfig } from '../../../compiler/model/presets.ts';
import { parseQuantSetting } from '../../../ir/quant.ts';
import {
  compilePattern, configFromOptions, createResolver, DEFAULT_EXCLUDE, DEPLOY_EXCLUDE, layerName, MODULATION_LAYERS,
  planLinears, profileConfig, splitPatternList,
} from '../../../compiler/quant/spec.ts';

describe('layer patterns', () => {
  it('globs: * stays in a segment, ** crosses segments, {a,b} alternates; regexes match the whole name', () => {
    const m = compilePattern('blocks.*.attn.{q,k,v,proj}');
    expect(['blocks.0.attn.q', 'blocks.12.attn.proj'].every(m)).toBe(true);
    expect(['blocks.0.attn.q_norm', 'blocks.0.x.attn.q', 'blocks.0.attn_temp.q'].some(m)).toBe(false);
    expect(compilePattern('final_layer.**')('final_layer.adaLN_modulation.1')).toBe(true);
    expect(compilePattern('/blocks\\.[0-3]\\.mlp\\..*/')('blocks.3.mlp.fc2')).toBe(true);
    expect(compilePattern(/mlp/)('blocks.3.mlp.fc2')).toBe(false); // anchored: 'mlp' is not the whole name
    expect(layerName('blocks.0.attn.q.weight')).toBe('blocks.0.attn.q');
  });

  it('later overrides win; excluded layers stay FP whatever the overrides say', () => {
    const r = createResolver({
      setting: 'w4a6',
      overrides: [
        { pattern: 'blocks.*.mlp.*', wBits: 8, aBits: 8 },
        { pattern: 'blocks.0.mlp.fc1', aBits: 6 },
        { pattern: 'blocks.*.adaLN_modulation.1', wBits: 8 },
      ],
    });
    expect(r('blocks.1.attn.q')).toMatchObject({ wBits: 4, aBits: 6 });
    expect(r('blocks.1.mlp.fc2')).toMatchObject({ wBits: 8, aBits: 8 });
    expect(r('blocks.0.mlp.fc1')).toMatchObject({ wBits: 8, aBits: 6 });
    expect(r('blocks.1.adaLN_modulation.1')).toBeUndefined();
    expect(() => createResolver({ setting: 'w4a6', overrides: [{ pattern: 'x', aBits: 5 as 6 }] })).toThrow(/got 5/);
  });

  it('parses pass options into a config', () => {
    expect(configFromOptions({ quant: 'w4a4', include: 'a.*; b.{c,d}', overrides: 'a.x=w8a8' })).toEqual({
      setting: 'w4a4', include: ['a.*', 'b.{c,d}'], overrides: [{ pattern: 'a.x', wBits: 8, aBits: 8, aFormat: 'int' }],
    });
    expect(configFromOptions({})).toEqual({ setting: 'w4a6' });
    expect(() => configFromOptions({ quant: 4 })).toThrow(/option quant must be a string/);
    expect(() => configFromOptions({ spec: '[1]' })).toThrow(/must be an object with a string 'setting'/);
  });
});

describe('default layer selection (PAPER.md §6)', () => {
  it('quantizes exactly the block linears of the tiny model and keeps embedders, adaLN and final layer FP', () => {
    const plan = planLinears(buildDiT(tinyConfig({ depth: 2 })), { setting: 'w4a6' });
    const q = plan.quantized.map((p) => p.layer).sort();
    expect(q).toEqual(['0', '1'].flatMap((i) =>
      ['attn.k', 'attn.proj', 'attn.q', 'attn.v', 'mlp.fc1', 'mlp.fc2'].map((l) => `blocks.${i}.${l}`)).sort());
    expect(plan.keptFp.map((k) => k.layer).sort()).toEqual([
      'blocks.0.adaLN_modulation.1', 'blocks.1.adaLN_modulation.1', 'final_layer.adaLN_modulation.1',
      'final_layer.linear', 't_embedder.mlp.0', 't_embedder.mlp.2', 'x_embedder.proj',
    ]);
  });

  it('covers cross-attention, temporal attention, text embedder and t_block of the STDiT preset', () => {
    const cfg = { ...getPreset('opensora-stdit'), depth: 1, video: [2, 4, 4, 4] as const, text: { tokens: 3, dim: 8 } };
    const plan = planLinears(buildDiT(cfg), { setting: 'w4a4' });
    const q = plan.quantized.map((p) => p.layer);
    expect(q).toEqual(expect.arrayContaining(['blocks.0.attn_temp.q', 'blocks.0.cross_attn.proj', 'blocks.0.mlp.fc2']));
    expect(q).toHaveLength(14);
    expect(plan.keptFp.map((k) => k.layer)).toEqual(expect.arrayContaining([
      't_block.1', 'text_embedder.mlp.0', 'text_embedder.mlp.2', 'final_layer.linear',
    ]));
  });
});

describe('deployment profile: modulation linears at W4A8', () => {
  const names = (plan: ReturnType<typeof planLinears>): string[] => plan.quantized.map((p) => p.layer).sort();

  it('puts every adaLN linear at w4a8 whatever the base setting; final_layer.linear and embedders stay FP', () => {
    const g = buildDiT(tinyConfig({ depth: 2 }));
    for (const setting of ['w4a6', 'w4a4', 'w8a8']) {
      const plan = planLinears(g, profileConfig('deploy', setting));
      const byLayer = new Map(plan.quantized.map((p) => [p.layer, p.spec]));
      for (const l of ['blocks.0.adaLN_modulation.1', 'blocks.1.adaLN_modulation.1', 'final_layer.adaLN_modulation.1']) {
        expect(byLayer.get(l)).toMatchObject({ wBits: 4, aBits: 8 });
      }
      expect(byLayer.get('blocks.1.mlp.fc1')).toMatchObject(parseQuantSetting(setting));
      expect(plan.keptFp.map((k) => k.layer).sort()).toEqual(
        ['final_layer.linear', 't_embedder.mlp.0', 't_embedder.mlp.2', 'x_embedder.proj']);
    }
  });

  it('--keep-fp removes layers; the adaLN glob restores the lineage selection exactly', () => {
    const g = buildDiT(tinyConfig({ depth: 2 }));
    const lineage = names(planLinears(g, { setting: 'w4a6' }));
    const kept = names(planLinears(g, profileConfig('deploy', 'w4a6', ['**.adaLN_modulation.*'])));
    expect(kept).toEqual(lineage);
    const noMlp = names(planLinears(g, profileConfig('deploy', 'w4a6', ['blocks.*.mlp.{fc1,fc2}'])));
    expect(noMlp.some((l) => l.includes('mlp'))).toBe(false);
    expect(noMlp).toContain('blocks.0.adaLN_modulation.1');
    expect(() => profileConfig('deploy', 'w4a6', ['a.{b'])).toThrow("pattern 'a.{b': unclosed '{'");
    expect(() => profileConfig('paper' as 'deploy', 'w4a6')).toThrow("quant profile 'paper' is not one of lineage, deploy");
  });

  it('under w4a8-fp8 the adaLN linears inherit e4m3 activations, as every block linear has them', () => {
    const plan = planLinears(buildDiT(tinyConfig({ depth: 2 })), profileConfig('deploy', 'w4a8-fp8'));
    expect(plan.quantized.length).toBe(15);
    for (const p of plan.quantized) expect(p.spec).toMatchObject({ wBits: 4, aBits: 8, aFormat: 'e4m3' });
    // integer bases keep integer adaLN linears
    const int = planLinears(buildDiT(tinyConfig({ depth: 2 })), profileConfig('deploy', 'w4a6'));
    expect(int.quantized.find((p) => p.layer === 'blocks.0.adaLN_modulation.1')?.spec.aFormat).toBe('int');
  });

  it('an override keeps the inherited format unless it names one; bits FP8 cannot take fail with a hint', () => {
    const r = createResolver({
      setting: 'w4a8-fp8',
      overrides: [
        { pattern: 'blocks.0.**', wBits: 4, aBits: 8 },
        { pattern: 'blocks.1.attn.*', aFormat: 'int' },
        { pattern: 'blocks.1.mlp.fc1', aBits: 6, aFormat: 'int' },
      ],
    });
    expect(r('blocks.0.attn.q')).toMatchObject({ aBits: 8, aFormat: 'e4m3' });
    expect(r('blocks.1.attn.q')).toMatchObject({ aBits: 8, aFormat: 'int' });
    expect(r('blocks.1.mlp.fc1')).toMatchObject({ aBits: 6, aFormat: 'int' });
    expect(r('blocks.1.mlp.fc2')).toMatchObject({ aBits: 8, aFormat: 'e4m3' });
    expect(() => createResolver({ setting: 'w4a8-fp8', overrides: [{ pattern: 'x.*', aBits: 6 }] }))
      .toThrow(/quant override 'x\.\*': .*got w4a6 \(inherited from w4a8-fp8; give the override aFormat: 'int'/);
    // a textual override names its format: w8a8 is integer, w4a8-fp8 is e4m3 over an integer base
    const overrides = 'blocks.0.mlp.*=w8a8;blocks.1.**=w4a8';
    const t = createResolver(configFromOptions({ quant: 'w4a8-fp8', overrides }));
    expect(t('blocks.0.attn.q')).toMatchObject({ wBits: 4, aBits: 8, aFormat: 'e4m3' });
    expect(t('blocks.0.mlp.fc1')).toMatchObject({ wBits: 8, aBits: 8, aFormat: 'int' });
    expect(t('blocks.1.attn.q')).toMatchObject({ wBits: 4, aBits: 8, aFormat: 'int' });
    const u = createResolver(configFromOptions({ quant: 'w4a6', overrides: 'blocks.0.mlp.*=w4a8-fp8' }));
    expect(u('blocks.0.mlp.fc1')).toMatchObject({ aBits: 8, aFormat: 'e4m3' });
    expect(u('blocks.0.attn.q')).toMatchObject({ aBits: 6, aFormat: 'int' });
  });

  it('covers t_block of the shared-adaLN STDiT preset', () => {
    const cfg = { ...getPreset('opensora-stdit'), depth: 1, video: [2, 4, 4, 4] as const, text: { tokens: 3, dim: 8 } };
    const plan = planLinears(buildDiT(cfg), profileConfig('deploy', 'w4a6'));
    expect(plan.quantized.find((p) => p.layer === 't_block.1')?.spec).toMatchObject({ wBits: 4, aBits: 8 });
  });

  it('pass options: profile=deploy with keep-fp, user overrides after the profile ones; pattern lists split', () => {
    const c = configFromOptions({ quant: 'w4a4', profile: 'deploy', 'keep-fp': 'blocks.0.*; x.y', overrides: 'a=w8a8' });
    expect(c.setting).toBe('w4a4');
    expect(c.exclude).toEqual([...DEPLOY_EXCLUDE, 'blocks.0.*', 'x.y']);
    expect(c.overrides!.map((o) => o.pattern)).toEqual([...MODULATION_LAYERS, 'a']);
    expect(configFromOptions({ 'keep-fp': 'q.*' }).exclude).toEqual([...DEFAULT_EXCLUDE, 'q.*']);
    expect(() => configFromOptions({ profile: 'deploy', spec: '{"setting":"w4a6"}' })).toThrow(/exclude each other/);
    expect(splitPatternList(' a.{b,c}.*, **.d ,,')).toEqual(['a.{b,c}.*', '**.d']);
  });
});
