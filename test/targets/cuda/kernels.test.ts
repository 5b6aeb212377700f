import { describe, expect, it } from 'vitest';
import { node, type Node } from '../../../ir/node.ts';
import { CUDA_HEADER } from '../../../targets/cuda/header.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import { CTX, golden, input, NVCC, nvccCompile } from './harness.ts';

/*
 * Every CUDA kernel family on small hand-built nodes (the ops the tiny model does not use included), golden text
 * for a few, and the errors bad input gives. No GPU here: these check the emitted source, and nvcc type-checks it;
 * numerical checks of the kernels need an NVIDIA device (vdit issue 6, runtime slice).
 */

const x = input('x', 'f32', [2, 8, 64]);
const y = input('y', 'f32', [1, 8, 64]);
const c = input('c', 'f32', [2, 64]);
const q4 = (rows: number, k: number): Node => input('w', 'i4', [rows, k]);

function qgemmNode(act: string, gate: boolean, residual: boolean): Node {
  const xq = input('xq', 'i8', [2, 8, 64]);
  const dx = input('dx', 'f32', [2, 8, 1]);
  const dw = input('dw', 'f32', [48, 1]);
  const extra = [input('b', 'f32', [48]), ...(gate ? [input('g', 'f32', [2, 48])] : []),
    ...(residual ? [input('r', 'f32', [2, 8, 48])] : [])];
  return node('qgemm', [xq, dx, q4(48, 64), dw, ...extra], { abits: 8, wbits: 4, act, gate, residual });
}

const prologueTs = node('token_scale', [x, c, c], { bits: 6, norm: 'layernorm', eps: 1e-6, modulate: true });

/** One node of every family (and the variants with different code paths). */
const CASES: Record<string, Node> = {
  fused: node('fused', [x, y], { expr: 'silu(add($0, $1))' }),
  gelu_erf: node('gelu', [x], { approx: 'none' }),
  cast_i32: node('cast', [x], { to: 'i32' }),
  int_pow: node('pow', [input('i', 'i32', [4, 4]), input('j', 'i32', [4, 4])]),
  where: node('where', [input('m', 'bool', [2, 8, 64]), x, y]),
  fill: node('const', [], { value: 0.5 }, { dtype: 'f32', shape: [3, 5] }),
  reduce_sum: node('reduce_sum', [x], { axes: [1], keepdims: false }),
  reduce_max_i32: node('reduce_max', [input('i', 'i32', [6, 10])], { axes: [-1], keepdims: true }),
  reduce_mean: node('reduce_mean', [x], { axes: [0, 2], keepdims: false }),
  // the token pooling's layout, innermost axis kept: one thread per output (kernels/reduce.ts)
  reduce_mean_pool: node('reduce_mean', [input('k', 'f32', [1, 4, 64, 64, 64])], { axes: [3], keepdims: false }),
  reduce_max_pool: node('reduce_max', [input('k', 'f32', [1, 4, 64, 64, 64])], { axes: [3], keepdims: false }),
  layernorm_affine: node('layernorm', [x, input('lw', 'f32', [64]), input('lb', 'f32', [64])], { eps: 1e-5 }),
  rmsnorm: node('rmsnorm', [x], { eps: 1e-6 }),
  softmax_mid: node('softmax', [x], { axis: 1 }),
  linear: node('linear', [x, input('lw', 'f32', [40, 64]), input('lb', 'f32', [40])]),
  matmul_bcast: node('matmul', [input('a', 'f32', [3, 2, 17, 33]), input('bm', 'f32', [2, 33, 70])]),
  attention_bool_mask: node('attention', [input('q', 'f32', [1, 2, 40, 16]), input('k', 'f32', [1, 2, 50, 16]),
    input('v', 'f32', [1, 2, 50, 24]), input('mask', 'bool', [1, 1, 40, 50])], { scale: 0.25 }),
  attention_additive: node('attention', [input('q', 'f32', [1, 2, 40, 16]), input('k', 'f32', [1, 2, 50, 16]),
    input('v', 'f32', [1, 2, 50, 16]), input('mask', 'f32', [50])], { scale: 0.25 }),
  permute: node('permute', [x], { perm: [2, 0, 1] }),
  transpose: node('transpose', [x], { dim0: 0, dim1: 2 }),
  concat: node('concat', [x, input('z', 'f32', [2, 3, 64])], { axis: 1 }),
  slice: node('slice', [x], { axis: 2, start: 4, end: 60, step: 3 }),
  gather: node('gather', [input('emb', 'f32', [10, 16]), input('ix', 'i32', [5])], { axis: 0 }),
  timestep_embedding: node('timestep_embedding', [input('t', 'f32', [2])],
    { dim: 32, max_period: 10000, flip: true, shift: 1, scale: 1000 }),
  modulate: node('modulate', [x, c, c]),
  gate: node('gate', [x, c]),
  rope3d_text: node('rope3d', [input('h', 'f32', [1, 2, 20, 16])], { grid: [1, 4, 4], dims: [4, 6, 6], theta: 10000, offset: 4 }),
  token_scale: node('token_scale', [x], { bits: 8 }),
  token_scale_prologue: prologueTs,
  quantize_prologue_expr: node('quantize', [x, input('e', 'f32', [64]), input('d', 'f32', [2, 8, 1])],
    { bits: 4, expr: 'gelu{approx="tanh"}(mul($0, $1))' }),
  quantize_odd_k: node('quantize', [input('o', 'f32', [3, 37]), input('d', 'f32', [3, 1])], { bits: 8 }),
  dequantize_i4: node('dequantize', [q4(12, 20), input('d', 'f32', [12, 1])]),
  dequantize_i8: node('dequantize', [input('q8', 'i8', [5, 7]), input('d', 'f32', [5, 1])]),
  qgemm_w4a8_gelu_gate_res: qgemmNode('gelu_tanh', true, true),
  qgemm_w4a4_odd: node('qgemm', [input('xq', 'i8', [3, 5, 40]), input('dx', 'f32', [3, 5, 1]), q4(20, 40),
    input('dw', 'f32', [20, 1])], { abits: 4, wbits: 4 }),
  qgemm_w8a8: node('qgemm', [input('xq', 'i8', [16, 64]), input('dx', 'f32', [16, 1]), input('w8', 'i8', [32, 64]),
    input('dw', 'f32', [32, 1]), input('b', 'f32', [32])], { abits: 8, wbits: 8, act: 'gelu_erf' }),
};

const kernels = Object.fromEntries(Object.entries(CASES).map(([k, n]) => [k, lowerCudaNode(n, CTX)]));

describe('CUDA kernels', () => {
  it.each(['fused', 'qgemm_w4a8_gelu_gate_res', 'token_scale_prologue', 'attention_bool_mask'])(
    'emits stable source for %s (golden)', (name) => {
      expect(kernels[name]!.source).toBe(golden(name, kernels[name]!.source));
    });

  it('spells math the CUDA way and shapes launches from the node', () => {
    expect(kernels['fused']!.source).toContain('expf(');
    expect(kernels['gelu_erf']!.source).toContain('erff(');
    expect(kernels['cast_i32']!.source).toContain('__float2int_rn(');
    expect(kernels['fused']!.grid[0]).toBe(Math.ceil((2 * 8 * 64) / 256));
    expect(kernels['layernorm_affine']!.grid[0]).toBe(16);
    expect(kernels['qgemm_w4a8_gelu_gate_res']!.source).toContain('vdit_mma_s8_16832(c[i][j], a0, b[j][0]);');
    expect(CUDA_HEADER).toContain('mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32');
    expect(kernels['qgemm_w4a8_gelu_gate_res']!.params).toEqual([
      'const signed char*', 'const float*', 'const unsigned*', 'const float*', 'const float*', 'const float*',
      'const float*', 'float*']);
  });

  it('loads a where\'s operands inside the side that reads them (a uniform flag skips the other side\'s memory)', () => {
    const flag = input('f', 'f32', [2, 1, 1]);
    const src = lowerCudaNode(node('fused', [flag, x, y, x], { expr: 'where(cast{to="bool"}($0), $1, add($2, $3))' }), CTX).source;
    const [head, taken, other] = [src.search(/if \(t\d+\) \{/), src.indexOf('} else {'), src.indexOf('y[i] =')];
    expect(head).toBeGreaterThan(src.indexOf('x0['));
    // x1 only on the taken side; x2 only on the other; x3 (the same tensor as x1, another operand) there too
    expect([...src.matchAll(/x1\[/g)].map((m) => m.index! > head && m.index! < taken)).toEqual([true]);
    expect([...src.matchAll(/x2\[/g)].map((m) => m.index! > taken && m.index! < other)).toEqual([true]);
    expect([...src.matchAll(/x3\[/g)].map((m) => m.index! > taken && m.index! < other)).toEqual([true]);
  });

  it('names a kernel by its source: equal nodes share an entry, different attrs do not', () => {
    expect(lowerCudaNode(CASES['fused']!, CTX).entry).toBe(kernels['fused']!.entry);
    expect(lowerCudaNode(node('fused', [x, y], { expr: 'silu(sub($0, $1))' }), CTX).entry).not.toBe(kernels['fused']!.entry);
  });

  it('rejects what this slice does not cover with a precise message', () => {
    const q = input('q', 'f32', [1, 2, 8, 16]);
    expect(() => lowerCudaNode(node('attention_colsum', [q, q], { scale: 0.25 }), CTX))
      .toThrow('cuda: no kernel for op attention_colsum');
    expect(() => lowerCudaNode(CASES['fused']!, { ...CTX, elem: 'f16' })).toThrow('cuda: f16 storage is not supported yet');
    expect(() => lowerCudaNode(node('permute', [q4(8, 8)], { perm: [1, 0] }), CTX)).toThrow(/packed dtype i4/);
    const wide = input('wide', 'f32', [1, 1, 4, 256]);
    expect(() => lowerCudaNode(node('attention', [wide, wide, wide], { scale: 0.1 }), CTX))
      .toThrow("cuda: attention head dims 256 + 256 exceed the flash kernel's shared-memory tile");
  });

  it.skipIf(!NVCC)('every family compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    expect(() => nvccCompile(Object.values(kernels))).not.toThrow();
  }, 300_000);
});
