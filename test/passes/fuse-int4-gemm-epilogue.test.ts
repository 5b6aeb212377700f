import { describe, expect, it } from 'vitest';
import { graph, parse, print, stats, toposort, type Graph } from '../../ir/index.ts';
import { createContext } from '../../passes/pass.ts';
import { rewriteGraph } from '../../passes/pattern.ts';
import { fuseInt4Gemm, INT4_GEMM_RULES } from '../../passes/fuse-int4-gemm.ts';
import { insertQdq } from '../../passes/insert-qdq.ts';
import { quantizeWeights } from '../../compiler/quant/quantized-weights.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { runReference } from '../../runtime/reference.ts';
import { expectClose, rand } from '../runtime/reference-helpers.ts';
import { expectPass, ir, runPass } from './expect-pass.ts';

// an adaLN MLP residual as compiler/model/blocks.ts builds it: x + gate(fc2(gelu(fc1(modulate(layernorm(x))))), g)
const BLOCK_FP = `
  graph g(%x: f32[2,5,32], %sh: f32[2,32], %sc: f32[2,32], %g: f32[2,32]) {
    %0: f32[2,5,32] = layernorm{eps=0.000001}(%x)
    %1: f32[2,5,32] = modulate(%0, %sh, %sc)
    %2: f32[24,32] = param{name="blocks.0.mlp.fc1.weight"}()
    %3: f32[24] = param{name="blocks.0.mlp.fc1.bias", init="normal", std=0.1}()
    %4: f32[2,5,24] = linear(%1, %2, %3)
    %5: f32[2,5,24] = gelu{approx="tanh"}(%4)
    %6: f32[32,24] = param{name="blocks.0.mlp.fc2.weight"}()
    %7: f32[2,5,32] = linear(%5, %6)
    %8: f32[2,5,32] = gate(%7, %g)
    %9: f32[2,5,32] = add(%x, %8)
    return %9
  }`;

const BLOCK_FUSED = `
  graph g(%x: f32[2,5,32], %sh: f32[2,32], %sc: f32[2,32], %g: f32[2,32]) {
    %0: f32[2,5,1] = token_scale{bits=6, eps=0.000001, modulate=true, norm="layernorm"}(%x, %sh, %sc)
    %1: i8[2,5,32] = quantize{bits=6, eps=0.000001, modulate=true, norm="layernorm"}(%x, %sh, %sc, %0)
    %2: i4[24,32] = param{name="blocks.0.mlp.fc1.weight.q"}()
    %3: f32[24,1] = param{name="blocks.0.mlp.fc1.weight.scale"}()
    %4: f32[24] = param{init="normal", name="blocks.0.mlp.fc1.bias", std=0.1}()
    %5: f32[2,5,24] = qgemm{abits=6, act="gelu_tanh", wbits=4}(%1, %0, %2, %3, %4)
    %6: f32[2,5,1] = token_scale{bits=6}(%5)
    %7: i8[2,5,24] = quantize{bits=6}(%5, %6)
    %8: i4[32,24] = param{name="blocks.0.mlp.fc2.weight.q"}()
    %9: f32[32,1] = param{name="blocks.0.mlp.fc2.weight.scale"}()
    %10: f32[2,5,32] = qgemm{abits=6, gate=true, residual=true, wbits=4}(%7, %6, %8, %9, %g, %x)
    return %10
  }`;

const qdq = (fp: Graph): Graph => runPass(insertQdq, fp, { quant: 'w4a6' }).graph;
/** the graph with qgemm only: the unfused reference the epilogue and prologue rules must agree with */
const qgemmOnly = (g: Graph): Graph => rewriteGraph(g, INT4_GEMM_RULES, createContext());

describe('fuse-int4-gemm: epilogue and producer prologue', () => {
  it('fuses GELU, the adaLN gate and the residual into the qgemms, and layernorm+modulate into the quantization', () => {
    const before = print(qdq(parse(ir(BLOCK_FP))));
    const st = expectPass(fuseInt4Gemm, before, BLOCK_FUSED);
    for (const r of ['qgemm-gelu', 'qgemm-gate', 'qgemm-residual', 'token-scale-prologue', 'quantize-prologue']) {
      expect(st.get(`fuse-int4-gemm.${r}`), r).toBe(1);
    }
  });

  it('leaves a qgemm whose result has another reader (here a graph output) unfused', () => {
    const g = qdq(parse(ir(BLOCK_FP)));
    const fc1 = toposort(g).find((n) => n.op === 'linear' && n.type.shape[2] === 24)!;
    const out = runPass(fuseInt4Gemm, graph(g.name, g.inputs, [...g.outputs, fc1])).graph;
    const q = toposort(out).filter((n) => n.op === 'qgemm');
    expect(q.map((n) => n.attrs['act'] ?? 'none')).toEqual(['none', 'none']);
    // gelu now feeds the fc2 quantization alone, so it joins it as an elementwise prologue instead
    const ts = toposort(out).filter((n) => n.op === 'token_scale' && n.attrs['expr'] !== undefined);
    expect(ts.map((n) => n.attrs['expr'])).toEqual(['gelu{approx="tanh"}($0)']);
    expect(q[1]!.attrs).toMatchObject({ gate: true, residual: true });
  });

  it('keeps the chain when x has a reader besides the quantization (an FP linear)', () => {
    const g = qdq(parse(ir(BLOCK_FP)));
    const mod = toposort(g).find((n) => n.op === 'modulate')!;
    const out = runPass(fuseInt4Gemm, graph(g.name, g.inputs, [...g.outputs, mod])).graph;
    expect(stats(out)).toMatchObject({ layernorm: 1, modulate: 1 });
    expect(toposort(out).filter((n) => n.op === 'token_scale' && n.attrs['norm'])).toEqual([]);
  });

  it('fuses an elementwise chain (silu(add(x, b)) * 2) into the quantization as an expr with side operands', () => {
    const before = `
      graph g(%x: f32[4,8], %b: f32[8]) {
        %0: f32[4,8] = add(%x, %b)
        %1: f32[4,8] = silu(%0)
        %2: f32[] = const{value=2}()
        %3: f32[4,8] = mul(%1, %2)
        %4: f32[4,1] = token_scale{bits=8}(%3)
        %5: i8[4,8] = quantize{bits=8}(%3, %4)
        return %5
      }`;
    const after = `
      graph g(%x: f32[4,8], %b: f32[8]) {
        %0: f32[] = const{value=2}()
        %1: f32[4,1] = token_scale{bits=8, expr="mul(silu(add($0, $1)), $2)"}(%x, %b, %0)
        %2: i8[4,8] = quantize{bits=8, expr="mul(silu(add($0, $1)), $2)"}(%x, %b, %0, %1)
        return %2
      }`;
    expectPass(fuseInt4Gemm, before, after);
  });

  it('the fused graph computes exactly what the qgemm-only graph computes (CPU reference, seeded inputs)', () => {
    const fp = parse(ir(BLOCK_FP));
    const sim = qdq(fp);
    // expose the quantized activations and their scales, which must agree bit for bit
    const qs = toposort(sim).filter((n) => n.op === 'quantize' || n.op === 'token_scale');
    const withQ = graph(sim.name, sim.inputs, [...sim.outputs, ...qs]);
    const unfused = qgemmOnly(withQ);
    const fused = runPass(fuseInt4Gemm, withQ).graph;
    expect(toposort(fused).filter((n) => n.op === 'qgemm' && n.attrs['residual'] === true)).toHaveLength(1);
    expect(toposort(fused).filter((n) => n.attrs['norm'] === 'layernorm')).toHaveLength(2);
    const weights = quantizeWeights(fp, seededWeights(fp, 11), { setting: 'w4a6' });
    for (const seed of [21, 22]) {
      const inputs = {
        x: rand('f32', [2, 5, 32], seed), sh: rand('f32', [2, 32], seed + 100),
        sc: rand('f32', [2, 32], seed + 200), g: rand('f32', [2, 32], seed + 300),
      };
      const want = runReference(unfused, inputs, weights);
      const got = runReference(fused, inputs, weights);
      want.slice(1).forEach((w, i) => expect(Array.from(got[i + 1]!.data)).toEqual(Array.from(w.data)));
      expect(Array.from(want[1]!.data).some((v) => v !== 0)).toBe(true);
      // each fused step rounds where the op it replaces rounds, so f32 outputs agree too (stated tolerance 1e-6)
      expectClose(got[0]!.data, want[0]!.data, 1e-7, 1e-6);
    }
  });

  it('rejects malformed epilogue attrs with a precise IRError', () => {
    const bad = `
      graph g(%a: i8[2,3,8], %s: f32[2,3,1], %w: i4[4,8], %sw: f32[4,1], %g: f32[2,5]) {
        %0: f32[2,3,4] = qgemm{abits=8, gate=true, wbits=4}(%a, %s, %w, %sw, %g)
        return %0
      }`;
    expect(() => parse(ir(bad))).toThrow(/gate must be f32\[2,4\]/);
    const act = bad.replace('gate=true', 'act="relu"').replace(', %g)', ')');
    expect(() => parse(ir(act))).toThrow(/act must be one of none, gelu_tanh, gelu_erf/);
  });
});
