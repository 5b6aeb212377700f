import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { f16AttentionTolerance, F16_UNIT_ROUNDOFF } from '../../../compiler/compare/tolerance.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../../compiler/weights/f16.ts';
import { node, type Node } from '../../../ir/node.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { mmaPlan } from '../../../targets/cuda/kernels/attention-mma-plan.ts';
import { defaultPipe, parseMmaVariant } from '../../../targets/cuda/kernels/attention-mma.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import type { LowerContext } from '../../../targets/target.ts';
import { emulateKernel, GXX } from './emulate/emulate.ts';
import { CTX, f32, input, NVCC, nvccCompile, reference, rng } from './harness.ts';

/*
 * The f16 tensor-core flash attention (dense and the three sparse forms): selection, nvcc -arch=sm_90a, and the
 * kernel under g++ emulation (mma.m16n8k16 and ldmatrix by their PTX fragment layouts) against the CPU reference,
 * by default and as each forced variant (4 or 8 warps, double-buffered or single-buffer staging).
 * Operands are uniform in [-1, 1) and scale = 1/√D, the regime compiler/compare/tolerance.ts derives its bound for.
 */

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-mma-attn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const F32: LowerContext = { ...CTX, variant: { attention: 'f32', sparse_attention: 'f32' } };

interface Case {
  readonly n: Node;
  readonly inputs: Record<string, Tensor>;
}

const ints = (shape: number[], values: readonly number[]): Tensor =>
  tensor({ dtype: 'i32', shape }, Int32Array.from(values));

/** attention (no tiles) or sparse_attention over random q, k, v of [B, H, Nq|Nk, D|Dv] plus `extra` operands. */
function attnCase(dims: readonly number[], seed: number, extra: Record<string, Tensor> = {}, attrs = {}): Case {
  const [B, H, Nq, Nk, D, Dv] = dims as [number, number, number, number, number, number];
  const r = rng(seed);
  const unit = (shape: number[]): Tensor => f32(r, shape, -1, 1);
  const inputs = { q: unit([B, H, Nq, D]), k: unit([B, H, Nk, D]), v: unit([B, H, Nk, Dv]), ...extra };
  const leaves = Object.entries(inputs).map(([k, t]) => input(k, t.type.dtype, t.type.shape));
  const op = 'tiles' in extra ? 'sparse_attention' : 'attention';
  return { n: node(op, leaves, { scale: 1 / Math.sqrt(D), ...attrs }), inputs };
}

const CASES: Record<string, Case> = {
  'dense N=80, D=32, B=2': attnCase([2, 2, 80, 80, 32, 32], 1),
  'dense N=130, D=64': attnCase([1, 2, 130, 130, 64, 64], 2),
  'dense D=16, Dv=48, Nq=70, Nk=130': attnCase([1, 2, 70, 130, 16, 48], 3),
  // 1-D lists: tile 16 over N=80 (5 tiles); tile 32 over N=130 (the last tile has 2 keys, kept)
  'sparse tile 16, D=16': attnCase([1, 2, 80, 80, 16, 16], 4, { tiles: ints([3], [0, 2, 4]) }, { tile: 16 }),
  'sparse tile 32 with the 2-key last tile, D=32': attnCase([2, 2, 130, 130, 32, 32], 5,
    { tiles: ints([2], [1, 4]) }, { tile: 32 }),
  // scheduled: t = 0.1, 0.9, 0.5 read rows 2, 0, 1 (−1 padded); tile 64, the last tile of 2 keys in two rows
  'scheduled tile 64, D=64': attnCase([3, 2, 130, 130, 64, 64], 6, {
    tiles: ints([3, 3], [0, 1, 2, 0, 2, -1, 1, -1, -1]),
    t: tensor({ dtype: 'f32', shape: [3] }, Float32Array.from([0.1, 0.9, 0.5])),
  }, { tile: 64, bounds: [0.7, 0.3] }),
  // scheduled, the middle range keeping nothing: t = 0.5 (batch element 2) reads the row of −1 only → rows of 0
  'scheduled with an empty range, tile 32, D=32': attnCase([3, 1, 100, 100, 32, 32], 15, {
    tiles: ints([3, 4], [0, 1, 2, 3, -1, -1, -1, -1, 1, 3, -1, -1]),
    t: tensor({ dtype: 'f32', shape: [3] }, Float32Array.from([0.1, 0.9, 0.5])),
  }, { tile: 32, bounds: [0.7, 0.3] }),
  // per query tile: 3 query tiles of 32 over N=80 (a 2-warp block each), lists −1 padded
  'per query tile, tile 32, D=32': attnCase([1, 2, 80, 80, 32, 32], 7,
    { tiles: ints([1, 2, 3, 2], [0, 2, 1, -1, 2, -1, 0, 1, 1, 2, 2, -1]) }, { tile: 32 }),
  // per query tile 16 (one warp a block) over N=130: 9 query tiles, 9 key tiles, the last of 2 keys
  'per query tile, tile 16, Dv=32': attnCase([1, 1, 130, 130, 16, 32], 8,
    { tiles: ints([1, 1, 9, 2], [0, 8, 1, -1, 2, 3, 8, -1, 4, 5, 5, -1, 6, 7, 7, 8, 0, -1]) }, { tile: 16 }),
  // odd N = 200 with Dv ≠ D: 8 warps by default (Nq ≥ 128), two blocks of rows the second mostly past the end
  'dense N=200, D=32, Dv=48': attnCase([1, 2, 200, 200, 32, 48], 10),
  'sparse tile 48, N=200, D=48, Dv=16': attnCase([1, 2, 200, 200, 48, 16], 11,
    { tiles: ints([3], [0, 2, 4]) }, { tile: 48 }),
  // per query tile 128 over N=200 (a second tile of 72 rows): room for 8 warps, two 64-key chunks a kept tile
  'per query tile, tile 128, N=200, Dv=32': attnCase([1, 1, 200, 200, 16, 32], 12,
    { tiles: ints([1, 1, 2, 2], [1, -1, 0, 1]) }, { tile: 128 }),
  // query tiles of 128 over key tiles of 64, N=200 (a second query tile of 72 rows): 8 warps by default
  'per query tile, tile 64, qtile 128, N=200': attnCase([1, 2, 200, 200, 16, 16], 13,
    { tiles: ints([1, 2, 2, 2], [0, 3, 1, -1, 2, 3, 0, 1]) }, { tile: 64, qtile: 128 }),
  // qtile 40 (not a multiple of 16, not dividing N=100): 3 warps a block, its last 8 rows past the query tile
  'per query tile, tile 16, qtile 40, N=100, Dv=32': attnCase([1, 2, 100, 100, 16, 32], 14,
    { tiles: ints([1, 2, 3, 2], [0, 6, 1, -1, 2, 5, 3, 4, 6, -1, 0, 2]) }, { tile: 16, qtile: 40 }),
};

/** Every named variant of the tensor-core kernel ('mma' is the default, run by the CASES tests above). */
const VARIANTS = ['mma-w4-pipe', 'mma-w8-pipe', 'mma-w4', 'mma-w8'] as const;

/** ctx forcing the tensor-core variant v for both ops. */
const forced = (v: string): LowerContext => ({ ...CTX, variant: { attention: v, sparse_attention: v } });

/** The kernel of n under ctx, run by the g++ emulation on the case's operands. */
function emulated(c: Case, ctx: LowerContext, name: string): Tensor {
  const operands = c.n.src.map((s) => c.inputs[s.attrs['name'] as string]!);
  return emulateKernel(lowerCudaNode(c.n, ctx), c.n, operands, join(dir, name.replace(/[^a-z0-9]+/gi, '_')));
}

/** max |got − want| over all elements (NaN only where both are NaN). */
function maxError(got: Tensor, want: Tensor): number {
  let worst = 0;
  want.data.forEach((w, i) => {
    const g = Number(got.data[i]);
    worst = Math.max(worst, Number.isNaN(g) && Number.isNaN(Number(w)) ? 0 : Math.abs(g - Number(w)));
  });
  return Number.isNaN(worst) ? Infinity : worst;
}

/** q, k, v rounded to f16 as the kernel stages them (round to nearest even). */
function roundedInputs(c: Case): Record<string, Tensor> {
  const half = (t: Tensor): Tensor =>
    tensor(t.type, Float32Array.from(t.data as Float32Array, (x) => f16BitsToF32(f32ToF16Bits(x))));
  return { ...c.inputs, q: half(c.inputs['q']!), k: half(c.inputs['k']!), v: half(c.inputs['v']!) };
}

describe('CUDA tensor-core attention: selection', () => {
  const dense = CASES['dense N=80, D=32, B=2']!.n;
  it('is the default for eligible shapes; variant f32 forces the f32 kernels', () => {
    expect(lowerCudaNode(dense, CTX).name).toBe('attention_mma');
    expect(lowerCudaNode(dense, CTX).block).toEqual([128, 1, 1]);
    expect(lowerCudaNode(dense, F32).name).toBe('attention_flash');
    expect(lowerCudaNode(CASES['scheduled tile 64, D=64']!.n, CTX).name).toBe('sparse_attention_mma');
    expect(lowerCudaNode(CASES['scheduled tile 64, D=64']!.n, F32).name).toBe('sparse_attention_flash');
    expect(lowerCudaNode(CASES['per query tile, tile 16, Dv=32']!.n, CTX).block).toEqual([32, 1, 1]);
  });

  it('takes 8 warps where Nq ≥ 128 (dense, 1-D and scheduled lists), 4 per query tile; variants force them', () => {
    const block = (name: string, ctx = CTX): number => lowerCudaNode(CASES[name]!.n, ctx).block[0]!;
    expect(block('dense N=130, D=64')).toBe(256);
    expect(block('dense N=130, D=64', forced('mma-w4'))).toBe(128);
    expect(block('dense N=80, D=32, B=2', forced('mma-w8-nopipe'))).toBe(256);
    expect(block('sparse tile 32 with the 2-key last tile, D=32')).toBe(256);
    expect(block('scheduled tile 64, D=64')).toBe(256);
    expect(block('per query tile, tile 128, N=200, Dv=32')).toBe(128);
    expect(block('per query tile, tile 128, N=200, Dv=32', forced('mma-w8'))).toBe(256);
    // a block never spans two query tiles: 16-row tiles keep one warp whatever the variant asks
    expect(block('per query tile, tile 16, Dv=32', forced('mma-w8'))).toBe(32);
    expect(lowerCudaNode(CASES['dense N=130, D=64']!.n, forced('mma-w8')).source)
      .toBe(lowerCudaNode(CASES['dense N=130, D=64']!.n, CTX).source);
  });

  it('per query tile of qtile rows: qtile 128 takes 8 warps where Nq ≥ 128, capped by ceil(qtile/16)', () => {
    const wide = CASES['per query tile, tile 64, qtile 128, N=200']!.n;
    const plan = mmaPlan(wide, { pipe: false });
    // 2 query tiles × 2 heads, one 128-row block each; chunks of 64 keys, one per live entry of the staged list
    expect(plan).toMatchObject({ warps: 8, blocks: 4, KC: 64, chunks: 'live * 1u' });
    expect(plan.head).toContain('const unsigned q0 = qt * 128u + (blk % 1u) * 128u;');
    expect(plan.head).toContain('const unsigned qend = qt * 128u + 128u < 200u ? qt * 128u + 128u : 200u;');
    expect(lowerCudaNode(wide, CTX).block).toEqual([256, 1, 1]);
    expect(lowerCudaNode(wide, forced('mma-w4')).block).toEqual([128, 1, 1]);
    // Nq < 128 keeps 4 warps even for qtile 128
    const short = attnCase([1, 1, 100, 100, 16, 16], 1, { tiles: ints([1, 1, 1, 1], [0]) }, { tile: 64, qtile: 128 }).n;
    expect(mmaPlan(short, { pipe: false }).warps).toBe(4);
    // qtile 40: ceil(40/16) = 3 warps, 3 blocks a head, never two query tiles in one
    const odd = mmaPlan(CASES['per query tile, tile 16, qtile 40, N=100, Dv=32']!.n, { pipe: false });
    expect(odd).toMatchObject({ warps: 3, blocks: 6, KC: 16 });
    expect(odd.head).toContain('const unsigned srow = bh * 3u + qt;');
    // qtile = tile is the old default (4 warps per query tile), the same source as no qtile
    const old = CASES['per query tile, tile 128, N=200, Dv=32']!;
    const same = node('sparse_attention', old.n.src, { ...old.n.attrs, qtile: 128 });
    expect(lowerCudaNode(same, CTX).source).toBe(lowerCudaNode(old.n, CTX).source);
  });

  it('parses variant names; the double buffer stays under 48 KiB (D = Dv = 128 halves the chunk)', () => {
    expect(parseMmaVariant('mma')).toEqual({});
    expect(parseMmaVariant('mma-w4-pipe')).toEqual({ warps: 4, pipe: true });
    expect(parseMmaVariant('mma-w8-nopipe')).toEqual({ warps: 8, pipe: false });
    expect(parseMmaVariant('mma-nopipe')).toEqual({ pipe: false });
    expect(parseMmaVariant('mma-w6')).toBeUndefined();
    const wide = node('attention', [0, 1, 2].map((i) => input('qkv'[i]!, 'f32', [1, 1, 300, 128])), { scale: 0.1 });
    expect(mmaPlan(wide, { pipe: true })).toMatchObject({ KC: 32, smem: 2 * 32 * 2 * 136 * 2 });
    expect(mmaPlan(wide, { pipe: false })).toMatchObject({ KC: 64, smem: 64 * 2 * 136 * 2 });
    const d64 = mmaPlan(CASES['scheduled tile 64, D=64']!.n, { pipe: true });
    // the double-buffered staging plus the staged list (3 entries, every key tile) and the 8 warps' two ballot words
    expect(d64).toMatchObject({ KC: 64, smem: 2 * 64 * 2 * 72 * 2 + 4 * (3 + 2 * 8), warps: 8 });
    expect(d64.smem).toBeLessThanOrEqual(48 * 1024);
    // a long staged list takes its share of the budget: the chunk shrinks instead of overflowing it (3000 of 4000
    // tiles: one ballot word a warp, no dense-walk check)
    const qkv = [input('q', 'f32', [1, 1, 64, 128]), input('k', 'f32', [1, 1, 64000, 128]), input('v', 'f32', [1, 1, 64000, 128])];
    const long = node('sparse_attention', [...qkv, input('tiles', 'i32', [3000])], { scale: 0.1, tile: 16 });
    expect(mmaPlan(long, { pipe: true })).toMatchObject({ KC: 16, smem: 2 * 16 * 2 * 136 * 2 + 4 * (3000 + 4) });
    expect(() => lowerCudaNode(wide, forced('mma-w16'))).toThrow("variant 'mma-w16' is not one of mma[-w4|-w8]");
  });

  it('double-buffers by default only blocks of at most 4 warps over per-query-tile lists', () => {
    const pick = (name: string): boolean => defaultPipe(CASES[name]!.n, {});
    expect(pick('per query tile, tile 32, D=32')).toBe(true);
    expect(pick('per query tile, tile 16, Dv=32')).toBe(true);
    expect(pick('per query tile, tile 64, qtile 128, N=200')).toBe(false); // 8 warps
    expect(defaultPipe(CASES['per query tile, tile 64, qtile 128, N=200']!.n, { warps: 4 })).toBe(true);
    expect(pick('scheduled tile 64, D=64')).toBe(false);
    expect(pick('dense N=130, D=64')).toBe(false);
    // the default lowering stages through registers (kx) exactly where defaultPipe says so
    const src = (name: string): string => lowerCudaNode(CASES[name]!.n, CTX).source;
    expect(src('per query tile, tile 32, D=32')).toContain('float4 kx[');
    expect(src('per query tile, tile 64, qtile 128, N=200')).not.toContain('float4 kx[');
  });

  it('keeps the f32 kernel for masks, head dims off 16 or over 128, and tiles under 16 keys', () => {
    const q = (d: number): Node => input('q', 'f32', [1, 1, 20, d]);
    const mask = node('attention', [q(32), q(32), q(32), input('m', 'f32', [20])], { scale: 0.1 });
    expect(lowerCudaNode(mask, CTX).name).toBe('attention_flash');
    expect(lowerCudaNode(node('attention', [q(24), q(24), q(24)], { scale: 0.1 }), CTX).name).toBe('attention_flash');
    const wide = node('attention', [q(144), q(144), q(144)], { scale: 0.1 });
    expect(lowerCudaNode(wide, CTX).name).toBe('attention_flash');
    const tiles = input('tiles', 'i32', [2]);
    expect(lowerCudaNode(node('sparse_attention', [q(32), q(32), q(32), tiles], { scale: 0.1, tile: 8 }), CTX).name)
      .toBe('sparse_attention_flash');
    const forced: LowerContext = { ...CTX, variant: { attention: 'mma' } };
    expect(() => lowerCudaNode(mask, forced)).toThrow('cuda: attention variant mma does not fit: a mask operand');
    const typo: LowerContext = { ...CTX, variant: { attention: 'wmma' } };
    expect(() => lowerCudaNode(dense, typo)).toThrow("variant 'wmma' is not one of");
  });

  it('counts flops like the f32 kernels (kept keys for sparse)', () => {
    for (const c of Object.values(CASES)) expect(lowerCudaNode(c.n, CTX).flops).toBe(lowerCudaNode(c.n, F32).flops);
  });

  it.skipIf(!NVCC)('compiles with nvcc -arch=sm_90a (needs nvcc: skipped without it)', () => {
    const kernels = Object.values(CASES).flatMap((c) => [CTX, ...VARIANTS.map(forced)].map((x) => lowerCudaNode(c.n, x)));
    expect(() => nvccCompile(kernels)).not.toThrow();
  }, 600_000);
});

describe.skipIf(!GXX)('CUDA tensor-core attention emulated vs the reference (needs g++)', () => {
  it.each(Object.keys(CASES))('%s', (name) => {
    const c = CASES[name]!;
    const got = emulated(c, CTX, name);
    const want = reference(c.n, c.inputs);
    // the derived f16-input bound (inputs |x| ≤ 1): see f16AttentionTolerance
    expect(maxError(got, want)).toBeLessThanOrEqual(f16AttentionTolerance(c.n).atol);
    // on f16-rounded q, k, v only P's rounding (≤ u·max|v|) and f32 accumulation remain: catches index slips
    expect(maxError(got, reference(c.n, roundedInputs(c)))).toBeLessThanOrEqual(1.1 * F16_UNIT_ROUNDOFF + 2e-5);
    expect(Array.from(want.data as ArrayLike<number>).some((v) => Math.abs(v) > 1e-2)).toBe(true);
  }, 120_000);

  const matrix = Object.keys(CASES).flatMap((name) => VARIANTS.map((v) => [name, v] as const));
  it.each(matrix)('%s as %s', (name, v) => {
    const c = CASES[name]!;
    const got = emulated(c, forced(v), `${name} ${v}`);
    expect(maxError(got, reference(c.n, roundedInputs(c)))).toBeLessThanOrEqual(1.1 * F16_UNIT_ROUNDOFF + 2e-5);
  }, 120_000);

  it('forced f32 variant stays within the f32 tolerance', () => {
    const c = CASES['dense N=80, D=32, B=2']!;
    expect(maxError(emulated(c, F32, 'f32 forced'), reference(c.n, c.inputs))).toBeLessThanOrEqual(2e-5);
  }, 120_000);

  it('a query tile whose list is empty (all −1) gives rows of 0 (as the reference), the rest as the f32 kernel', () => {
    const c = attnCase([1, 1, 48, 80, 16, 16], 9, { tiles: ints([1, 1, 3, 2], [0, 4, -1, -1, 2, -1]) }, { tile: 16 });
    const got = emulated(c, CTX, 'empty row');
    const f32got = emulated(c, F32, 'empty row f32');
    const zero = (i: number): boolean => Array.from(got.data.subarray(i * 16, i * 16 + 16)).every((x) => x === 0);
    const rows = Array.from({ length: 48 }, (_, i) => zero(i));
    expect(rows).toEqual(Array.from({ length: 48 }, (_, i) => i >= 16 && i < 32));
    expect(maxError(got, f32got)).toBeLessThanOrEqual(f16AttentionTolerance(c.n).atol);
    expect(maxError(got, reference(c.n, c.inputs))).toBeLessThanOrEqual(f16AttentionTolerance(c.n).atol);
  }, 120_000);

  it('a list of every tile walks as the dense kernel (bitwise); a shorter row of the same op walks its list', () => {
    // t = 0.9 reads row 0 (tiles 0, 1, 2: the dense walk), t = 0.1 row 1 (tiles 0 and 2, −1 padded)
    const t = tensor({ dtype: 'f32', shape: [2] }, Float32Array.from([0.9, 0.1]));
    const c = attnCase([2, 1, 130, 130, 64, 64], 16, { tiles: ints([2, 3], [0, 1, 2, 0, 2, -1]), t }, { tile: 64, bounds: [0.5] });
    const dense = attnCase([2, 1, 130, 130, 64, 64], 16);
    const want = reference(c.n, c.inputs);
    const half = 130 * 64;
    for (const v of ['mma', 'mma-w8-pipe']) {
      const got = emulated(c, forced(v), `whole ${v}`);
      const plain = emulated(dense, forced(v), `whole dense ${v}`);
      expect(Array.from(got.data.subarray(0, half))).toEqual(Array.from(plain.data.subarray(0, half)));
      expect(maxError(got, want)).toBeLessThanOrEqual(f16AttentionTolerance(c.n).atol);
      // not vacuous: the second row leaves tile 1 out
      expect(Array.from(got.data.subarray(half)).some((x, i) => x !== plain.data[half + i])).toBe(true);
    }
    expect(mmaPlan(c.n, { pipe: false }).whole).toBeDefined();
    expect(mmaPlan(CASES['sparse tile 16, D=16']!.n, { pipe: false }).whole).toBeUndefined();
  }, 300_000);

  it('the scheduled form\'s empty range gives rows of exactly 0, single-buffered and pipelined', () => {
    const c = CASES['scheduled with an empty range, tile 32, D=32']!;
    for (const ctx of [CTX, forced('mma-w4-pipe')]) {
      const got = emulated(c, ctx, `empty range ${ctx.variant?.['sparse_attention'] ?? 'mma'}`);
      const split = 2 * 100 * 32;
      expect(Array.from(got.data.subarray(split)).every((x) => x === 0)).toBe(true);
      expect(Array.from(got.data.subarray(0, split)).every((x) => x !== 0)).toBe(true);
    }
  }, 300_000);
});
