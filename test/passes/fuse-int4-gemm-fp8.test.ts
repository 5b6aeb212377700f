import { describe, expect, it } from 'vitest';
import { parse, print, stats } from '../../ir/index.ts';
import { fuseInt4Gemm } from '../../passes/fuse-int4-gemm.ts';
import { insertQdq } from '../../passes/insert-qdq.ts';
import { quantizeWeights } from '../../compiler/quant/quantized-weights.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { runReference } from '../../runtime/reference.ts';
import { expectClose, rand } from '../runtime/reference-helpers.ts';
import { expectPass, ir, runPass } from './expect-pass.ts';

// W4A8-FP8: insert-qdq{quant=w4a8-fp8} marks the activation Q/DQ with format="e4m3", fuse-int4-gemm carries it
// to qgemm{aformat="e4m3"}; the weights are the int4 ones of w4a8.

const FP = `
  graph g(%x: f32[2,3,16]) {
    %0: f32[8,16] = param{name="blocks.0.mlp.fc1.weight"}()
    %1: f32[8] = param{name="blocks.0.mlp.fc1.bias"}()
    %2: f32[2,3,8] = linear(%x, %0, %1)
    return %2
  }`;

const QDQ = `
  graph g(%x: f32[2,3,16]) {
    %0: f32[2,3,1] = token_scale{bits=8, format="e4m3"}(%x)
    %1: i8[2,3,16] = quantize{bits=8, format="e4m3"}(%x, %0)
    %2: f32[2,3,16] = dequantize{format="e4m3"}(%1, %0)
    %3: i4[8,16] = param{name="blocks.0.mlp.fc1.weight.q"}()
    %4: f32[8,1] = param{name="blocks.0.mlp.fc1.weight.scale"}()
    %5: f32[8,16] = dequantize(%3, %4)
    %6: f32[8] = param{name="blocks.0.mlp.fc1.bias"}()
    %7: f32[2,3,8] = linear(%2, %5, %6)
    return %7
  }`;

const FUSED = `
  graph g(%x: f32[2,3,16]) {
    %0: f32[2,3,1] = token_scale{bits=8, format="e4m3"}(%x)
    %1: i8[2,3,16] = quantize{bits=8, format="e4m3"}(%x, %0)
    %2: i4[8,16] = param{name="blocks.0.mlp.fc1.weight.q"}()
    %3: f32[8,1] = param{name="blocks.0.mlp.fc1.weight.scale"}()
    %4: f32[8] = param{name="blocks.0.mlp.fc1.bias"}()
    %5: f32[2,3,8] = qgemm{abits=8, aformat="e4m3", wbits=4}(%1, %0, %2, %3, %4)
    return %5
  }`;

describe('W4A8-FP8 through insert-qdq and fuse-int4-gemm', () => {
  it('insert-qdq{quant=w4a8-fp8} puts format=e4m3 on the activation Q/DQ only', () => {
    expectPass(insertQdq, FP, QDQ, { quant: 'w4a8-fp8' });
  });

  it('fuse-int4-gemm gives qgemm{aformat=e4m3}, and the text form round-trips', () => {
    expect(expectPass(fuseInt4Gemm, QDQ, FUSED).get('fuse-int4-gemm.qgemm-bias')).toBe(1);
    const g = parse(ir(FUSED));
    expect(print(parse(print(g)))).toBe(print(g));
  });

  it('leaves a linear whose dequantize reads the codes in another format than quantize wrote', () => {
    const mixed = QDQ.replace('dequantize{format="e4m3"}(%1, %0)', 'dequantize(%1, %0)');
    const g = parse(ir(mixed));
    expect(stats(runPass(fuseInt4Gemm, g).graph).qgemm).toBeUndefined();
  });

  it('the fused graph computes what the simulated Q/DQ graph computes (rel 1e-5) and differs from w4a8', () => {
    const fp = parse(ir(`
      graph g(%x: f32[2,5,64]) {
        %0: f32[24,64] = param{name="blocks.0.mlp.fc1.weight"}()
        %1: f32[24] = param{name="blocks.0.mlp.fc1.bias", init="normal", std=0.1}()
        %2: f32[2,5,24] = linear(%x, %0, %1)
        %3: f32[2,5,24] = gelu{approx="tanh"}(%2)
        %4: f32[64,24] = param{name="blocks.0.mlp.fc2.weight"}()
        %5: f32[2,5,64] = linear(%3, %4)
        return %5
      }`));
    const qdq = runPass(insertQdq, fp, { quant: 'w4a8-fp8' }).graph;
    const fused = runPass(fuseInt4Gemm, qdq).graph;
    expect(stats(fused)).toMatchObject({ qgemm: 2, token_scale: 2, quantize: 2 });
    const weights = quantizeWeights(fp, seededWeights(fp, 4), { setting: 'w4a8-fp8' });
    const x = { x: rand('f32', [2, 5, 64], 8) };
    const [sim] = runReference(qdq, x, weights);
    const [fp8] = runReference(fused, x, weights);
    const [ref] = runReference(fp, x, weights);
    expectClose(fp8!.data, sim!.data, 1e-7, 1e-5);
    const int8 = runPass(fuseInt4Gemm, runPass(insertQdq, fp, { quant: 'w4a8' }).graph).graph;
    const [i8] = runReference(int8, x, quantizeWeights(fp, seededWeights(fp, 4), { setting: 'w4a8' }));
    const err = (a: ArrayLike<number>): number => Math.max(...Array.from(a, (v, i) => Math.abs(v - ref!.data[i]!)));
    // both really quantized, and not the same quantizer
    expect(err(fp8!.data)).toBeGreaterThan(0);
    expect(err(i8!.data)).toBeGreaterThan(0);
    expect(Array.from(fp8!.data).some((v, i) => v !== i8!.data[i])).toBe(true);
  });
});
