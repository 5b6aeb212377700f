import { describe, expect, it } from 'vitest';
import { parse, print, stats } from '../../ir/index.ts';
import { createContext } from '../../passes/pass.ts';
import { insertQdq, insertQdqWith } from '../../passes/insert-qdq.ts';
import { builtinPasses } from '../../passes/registry.ts';
import { parsePipeline } from '../../passes/pipeline.ts';
import { expectPass, ir } from './expect-pass.ts';
import { MLP_FP, MLP_QDQ } from './mlp-ir.ts';

const ATTN_FP = `
  graph g(%x: f32[1,4,8]) {
    %0: f32[8,8] = param{name="blocks.1.attn.q.weight"}()
    %1: f32[1,4,8] = linear(%x, %0)
    %2: f32[8,8] = param{name="blocks.1.attn.k.weight"}()
    %3: f32[1,4,8] = linear(%x, %2)
    %4: f32[8,8] = param{name="blocks.1.adaLN_modulation.1.weight"}()
    %5: f32[1,4,8] = linear(%x, %4)
    %6: f32[1,4,8] = add(%1, %3)
    %7: f32[1,4,8] = add(%6, %5)
    return %7
  }`;

describe('insert-qdq', () => {
  it('wraps the selected linears in Q/DQ, per-layer bits from overrides, keeping final_layer FP', () => {
    const stats = expectPass(insertQdq, MLP_FP, MLP_QDQ, { quant: 'w4a6', overrides: 'blocks.*.mlp.fc2=w8a8' });
    expect(stats.get('insert-qdq.quantized')).toBe(2);
    expect(stats.get('insert-qdq.kept-fp')).toBe(1);
    expect(stats.get('insert-qdq.kept-fp-spec')).toBe(1);
  });

  it('shares one token_scale and quantize between linears reading one input; adaLN stays FP', () => {
    const ctx = createContext({ quant: 'w4a8' });
    const out = insertQdq.run(parse(ir(ATTN_FP)), ctx);
    expect(stats(out)).toMatchObject({ token_scale: 1, quantize: 1, dequantize: 3, linear: 3 });
    expect(print(out)).toContain('param{name="blocks.1.adaLN_modulation.1.weight"}');
    expect(print(out)).toContain('i4[8,8] = param{name="blocks.1.attn.k.weight.q"}');
    expect(ctx.stats.get('insert-qdq.quantized')).toBe(2);
  });

  it('takes include/exclude lists and a JSON spec from the options', () => {
    const g = parse(ir(ATTN_FP));
    const onlyQ = createContext({ include: 'blocks.*.attn.q', quant: 'w8a8' });
    expect(stats(insertQdq.run(g, onlyQ))).toMatchObject({ token_scale: 1, dequantize: 2 });
    expect(onlyQ.stats.get('insert-qdq.kept-fp')).toBe(2);
    const all = createContext({ include: '**', exclude: '' });
    expect(stats(insertQdq.run(g, all)).dequantize).toBe(4);
    const json = createContext({ spec: JSON.stringify({ setting: 'w4a4', exclude: ['/blocks\\.\\d+\\.attn\\.k/'] }) });
    const out = print(insertQdq.run(g, json));
    expect(out).toContain('token_scale{bits=4}');
    expect(out).not.toContain('attn.k.weight.q');
  });

  it('returns the graph itself when nothing is selected, and leaves non-f32 linears FP', () => {
    const g = parse(ir(MLP_FP));
    expect(insertQdq.run(g, createContext({ include: 'nothing.*' }))).toBe(g);
    const half = parse(ir(`
      graph h(%x: f16[2,4]) {
        %0: f16[4,4] = param{name="blocks.0.mlp.fc1.weight"}()
        %1: f16[2,4] = linear(%x, %0)
        return %1
      }`));
    const ctx = createContext({});
    expect(insertQdqWith(half, { setting: 'w4a6' }, ctx)).toBe(half);
    expect(ctx.stats.get('insert-qdq.kept-fp-not-f32')).toBe(1);
  });

  it('fails clearly on a bad setting, option or pattern', () => {
    const g = parse(ir(MLP_FP));
    expect(() => insertQdq.run(g, createContext({ quant: 'w2a8' }))).toThrow(/weight bits must be 4 or 8, got 2/);
    expect(() => insertQdq.run(g, createContext({ bits: 4 }))).toThrow(/unknown option 'bits'/);
    expect(() => insertQdq.run(g, createContext({ include: 'blocks.{q' }))).toThrow(/unclosed '\{'/);
    expect(() => insertQdq.run(g, createContext({ overrides: 'fc2' }))).toThrow(/not 'pattern=wXaY'/);
    expect(() => insertQdq.run(g, createContext({ spec: '{' }))).toThrow(/spec is not valid JSON/);
  });

  it('is registered and spelled in pipelines with its options', () => {
    const text = 'insert-qdq{quant=w4a8, overrides="blocks.*.mlp.fc2=w8a8"},fuse-int4-gemm';
    const p = parsePipeline(text, builtinPasses());
    expect(p.map((i) => i.pass.name)).toEqual(['insert-qdq', 'fuse-int4-gemm']);
    expect(p[0]!.options).toEqual({ quant: 'w4a8', overrides: 'blocks.*.mlp.fc2=w8a8' });
  });
});
