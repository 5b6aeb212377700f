import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { PRESETS } from '../../../compiler/model/presets.ts';
import { parse } from '../../../ir/parse.ts';
import { print } from '../../../ir/print.ts';
import { verify } from '../../../ir/verify.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../../passes/pipeline.ts';
import { builtinPasses } from '../../../passes/registry.ts';

describe('every preset round-trips through the IR text form', () => {
  it.each(Object.keys(PRESETS))('%s, before and after the default pipeline', (name) => {
    const g = buildDiT(PRESETS[name]!);
    const text = print(g);
    expect(print(parse(text))).toBe(text);
    const fused = runPipeline(g, parsePipeline(DEFAULT_PIPELINE, builtinPasses()), { verify }).graph;
    const fusedText = print(fused);
    expect(fusedText).not.toBe(text);
    expect(print(parse(fusedText))).toBe(fusedText);
  });
});
