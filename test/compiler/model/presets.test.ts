import { describe, expect, it } from 'vitest';
import { modelDims } from '../../../compiler/model/config.ts';
import { getPreset, PRESETS, tinyConfig } from '../../../compiler/model/presets.ts';

describe('presets', () => {
  it('has the five presets and a clear error for unknown names', () => {
    expect(Object.keys(PRESETS)).toEqual(['tiny', 'cogvideox-2b', 'cogvideox-5b', 'wan2.1-1.3b', 'opensora-stdit']);
    expect(() => getPreset('foo')).toThrow(
      "unknown preset 'foo'; available: tiny, cogvideox-2b, cogvideox-5b, wan2.1-1.3b, opensora-stdit",
    );
    expect(() => getPreset('toString')).toThrow(/unknown preset 'toString'/);
  });

  it('has the stated token counts', () => {
    const tokens = (n: string) => {
      const d = modelDims(getPreset(n));
      return [d.grid, d.videoTokens, d.attnTokens];
    };
    expect(tokens('tiny')).toEqual([[8, 8, 8], 512, 512]);
    expect(tokens('cogvideox-2b')).toEqual([[13, 30, 45], 17550, 17776]);
    expect(tokens('cogvideox-5b')).toEqual([[13, 30, 45], 17550, 17776]);
    expect(tokens('wan2.1-1.3b')).toEqual([[21, 30, 52], 32760, 32760]);
    expect(tokens('opensora-stdit')).toEqual([[16, 16, 16], 4096, 4096]);
  });

  it('round-trips through JSON', () => {
    for (const cfg of Object.values(PRESETS)) expect(JSON.parse(JSON.stringify(cfg))).toEqual(cfg);
  });

  it('tinyConfig overrides fields and validation names the bad one', () => {
    expect(tinyConfig({ depth: 2 }).depth).toBe(2);
    expect(tinyConfig({ depth: 2 }).hidden).toBe(256);
    expect('classes' in tinyConfig({ classes: undefined })).toBe(false);
    expect(() => modelDims(tinyConfig({ patch: [3, 4, 4] }))).toThrow(/patch\[0\] = 3 does not divide video\[0\] = 16/);
    expect(() => modelDims(tinyConfig({ heads: 3 }))).toThrow(/not divisible by heads 3/);
    expect(() => modelDims(tinyConfig({ rope: { dims: [16, 16, 16], theta: 1e4 } }))).toThrow(/sum to the head dim 64/);
    expect(() => modelDims(tinyConfig({ block: 'cross' }))).toThrow(/block 'cross' needs text/);
    expect(() => modelDims(tinyConfig({ depth: 0 }))).toThrow(/depth must be a positive integer/);
  });
});
