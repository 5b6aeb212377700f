import { describe, expect, it } from 'vitest';
import { parse, stats } from '../../ir/index.ts';
import { createContext } from '../../passes/pass.ts';
import { fuseInt4Gemm } from '../../passes/fuse-int4-gemm.ts';
import { insertQdq } from '../../passes/insert-qdq.ts';
import { quantizeWeights } from '../../compiler/quant/quantized-weights.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { runReference } from '../../runtime/reference.ts';
import { expectClose, rand } from '../runtime/reference-helpers.ts';
import { expectPass, ir, runPass } from './expect-pass.ts';
import { MLP_QDQ as QDQ } from './mlp-ir.ts';

const FUSED = `
  graph g(%x: f32[2,3,16]) {
    %0: f32[2,3,1] = token_scale{bits=6}(%x)
    %1: i8[2,3,16] = quantize{bits=6}(%x, %0)
    %2: i4[8,16] = param{name="blocks.0.mlp.fc1.weight.q"}()
    %3: f32[8,1] = param{name="blocks.0.mlp.fc1.weight.scale"}()
    %4: f32[8] = param{name="blocks.0.mlp.fc1.bias"}()
    %5: f32[2,3,8] = qgemm{abits=6, act="gelu_tanh", wbits=4}(%1, %0, %2, %3, %4)
    %6: f32[2,3,1] = token_scale{bits=8}(%5)
    %7: i8[2,3,8] = quantize{bits=8}(%5, %6)
    %8: i8[16,8] = param{name="blocks.0.mlp.fc2.weight.q"}()
    %9: f32[16,1] = param{name="blocks.0.mlp.fc2.weight.scale"}()
    %10: f32[2,3,16] = qgemm{abits=8, wbits=8}(%7, %6, %8, %9)
    %11: f32[16,16] = param{name="final_layer.linear.weight"}()
    %12: f32[2,3,16] = linear(%10, %11)
    return %12
  }`;

describe('fuse-int4-gemm', () => {
  it('turns Q/DQ linears into qgemm (bias kept, bits from the quantize and the weight dtype)', () => {
    const stats = expectPass(fuseInt4Gemm, QDQ, FUSED);
    expect(stats.get('fuse-int4-gemm.qgemm')).toBe(1);
    expect(stats.get('fuse-int4-gemm.qgemm-bias')).toBe(1);
    expect(stats.get('fuse-int4-gemm.qgemm-gelu')).toBe(1);
  });

  it('leaves linears whose scales do not pair up, or are not per token / per channel', () => {
    const unchanged = `
      graph g(%x: f32[4,8], %t: f32[4,1]) {
        %0: f32[4,1] = token_scale{bits=8}(%x)
        %1: i8[4,8] = quantize{bits=8}(%x, %0)
        %2: f32[4,8] = dequantize(%1, %t)
        %3: i4[3,8] = param{name="a.weight.q"}()
        %4: f32[3,1] = param{name="a.weight.scale"}()
        %5: f32[3,8] = dequantize(%3, %4)
        %6: f32[4,3] = linear(%2, %5)
        %7: f32[4,8] = dequantize(%1, %0)
        %8: f32[1,1] = param{name="b.weight.scale"}()
        %9: f32[3,8] = dequantize(%3, %8)
        %10: f32[4,3] = linear(%7, %9)
        %11: f32[4,3] = add(%6, %10)
        return %11
      }`;
    const g = parse(ir(unchanged));
    expect(fuseInt4Gemm.run(g, createContext())).toBe(g);
  });

  it('computes what the simulated Q/DQ graph computes, up to f32 rounding (rel 1e-5)', () => {
    const fp = parse(ir(`
      graph g(%x: f32[2,5,32]) {
        %0: f32[24,32] = param{name="blocks.0.mlp.fc1.weight"}()
        %1: f32[24] = param{name="blocks.0.mlp.fc1.bias", init="normal", std=0.1}()
        %2: f32[2,5,24] = linear(%x, %0, %1)
        %3: f32[2,5,24] = gelu{approx="tanh"}(%2)
        %4: f32[32,24] = param{name="blocks.0.mlp.fc2.weight"}()
        %5: f32[2,5,32] = linear(%3, %4)
        return %5
      }`));
    const config = { setting: 'w4a6' };
    const qdq = runPass(insertQdq, fp, { quant: 'w4a6' }).graph;
    const fused = runPass(fuseInt4Gemm, qdq).graph;
    expect(stats(fused)).toMatchObject({ qgemm: 2, token_scale: 2, quantize: 2 });
    expect(stats(fused).gelu).toBeUndefined();
    expect(stats(fused).dequantize).toBeUndefined();
    const weights = quantizeWeights(fp, seededWeights(fp, 4), config);
    const x = { x: rand('f32', [2, 5, 32], 8) };
    const [sim] = runReference(qdq, x, weights);
    const [int] = runReference(fused, x, weights);
    const [ref] = runReference(fp, x, weights);
    expectClose(int!.data, sim!.data, 1e-7, 1e-5);
    expect(Math.max(...int!.data.map((v, i) => Math.abs(v - ref!.data[i]!)))).toBeGreaterThan(0); // really quantized
  });
});
