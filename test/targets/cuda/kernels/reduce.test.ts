import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { node, type Node } from '../../../../ir/node.ts';
import type { Shape } from '../../../../ir/types.ts';
import { lowerCudaNode } from '../../../../targets/cuda/select.ts';
import { emulateKernel, GXX } from '../emulate/emulate.ts';
import { CTX, emulatedError, f32, input, reference, rng } from '../harness.ts';

/*
 * lowerCudaReduce's two float paths: which layout takes which (read off the launch shape), each path emulated on
 * the CPU against the reference for sum / mean / max (the token pooling of passes/prune-online.ts included), and
 * reduce_max's NaN propagation on both paths.
 */

type ReduceOp = 'reduce_sum' | 'reduce_mean' | 'reduce_max';
const OPS: readonly ReduceOp[] = ['reduce_sum', 'reduce_mean', 'reduce_max'];

const reduce = (op: ReduceOp, shape: Shape, axes: readonly number[]): Node =>
  node(op, [input('x', 'f32', shape)], { axes, keepdims: false });

/** True when the kernel is one thread per output (64-thread blocks, a sequential loop), false for a block each. */
function isThreadPath(n: Node): boolean {
  const k = lowerCudaNode(n, CTX);
  const byThread = !k.source.includes('vdit_block_');
  const outs = n.type.shape.reduce((a, b) => a * b, 1);
  expect(k.grid[0]).toBe(byThread ? Math.ceil(outs / 64) : outs);
  return byThread;
}

describe('CUDA reduce: path choice', () => {
  it('takes one thread per output for the token pooling (innermost axis kept, many outputs)', () => {
    const pool = reduce('reduce_mean', [1, 30, 17776 / 64, 64, 64], [3]);
    expect(isThreadPath(pool)).toBe(true);
    expect(lowerCudaNode(pool, CTX).source).toContain('for (unsigned r = 0; r < 64u; ++r)');
    expect(OPS.every((op) => isThreadPath(reduce(op, [8, 10, 32, 3, 64], [1, 3])))).toBe(true);
  });

  it('keeps one block per output for rows, few outputs, and kept runs shorter than a sector', () => {
    expect(isThreadPath(reduce('reduce_sum', [16384, 64], [1]))).toBe(false);
    expect(isThreadPath(reduce('reduce_mean', [2, 3, 5, 7, 8], [3]))).toBe(false);
    expect(isThreadPath(reduce('reduce_max', [4096, 16, 4], [1]))).toBe(false);
  });

  it('skips unit axes when it finds the innermost one', () => {
    expect(isThreadPath(reduce('reduce_sum', [256, 16, 64, 1], [1, 3]))).toBe(true);
    expect(isThreadPath(reduce('reduce_sum', [16384, 8, 1], [1]))).toBe(false);
  });

  it('keeps integer tensors on the exact thread-per-output path whatever the layout', () => {
    const k = lowerCudaNode(node('reduce_sum', [input('i', 'i32', [6, 10])], { axes: [1], keepdims: false }), CTX);
    expect(k.source).toContain('int acc = 0;');
    expect(k.block[0]).toBe(64);
  });
});

const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-reduce-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// [shape, axes]: the pooling pattern [B, H, KT, tile, D] over tile, odd extents with a partial last block, two
// reduced axes apart, and the small 5-D case (block path: too few outputs)
const LAYOUTS: Record<string, readonly [Shape, readonly number[]]> = {
  'pooling [1, 4, 64, 64, 64] axis 3': [[1, 4, 64, 64, 64], [3]],
  '[3, 5, 37, 7, 31] axis 3 (partial block)': [[3, 5, 37, 7, 31], [3]],
  '[8, 10, 32, 3, 64] axes 1, 3': [[8, 10, 32, 3, 64], [1, 3]],
  '[2, 3, 5, 7, 8] axis 3 (block path)': [[2, 3, 5, 7, 8], [3]],
};
const EMULATED = Object.keys(LAYOUTS).flatMap((l) => OPS.map((op) => [op, l] as const));

/** Sums run in another order than the reference's f64 sum: a few f32 ulps of the sum's magnitude. */
const RTOL: Record<ReduceOp, number> = { reduce_sum: 1e-5, reduce_mean: 2e-6, reduce_max: 0 };

describe.skipIf(!GXX)('CUDA reduce emulated on the CPU vs the reference (needs g++)', () => {
  it.each(EMULATED)('%s over %s', (op, layout) => {
    const [shape, axes] = LAYOUTS[layout]!;
    const n = reduce(op, shape, axes);
    const work = join(dir, `${op}_${layout.replace(/[^a-z0-9]+/gi, '_')}`);
    const { worst, want } = emulatedError(n, { x: f32(rng(shape.length * 31 + axes.length), shape) }, work);
    expect(worst).toBeLessThanOrEqual(RTOL[op]);
    expect(Array.from(want.data as ArrayLike<number>).some((v) => Math.abs(v) > 1e-3)).toBe(true);
  }, 120_000);

  it.each([['thread', [4, 64, 8, 64]], ['block', [2, 3, 16, 8]]] as const)(
    'reduce_max propagates NaN as the reference does (%s path)', (path, shape) => {
      const n = reduce('reduce_max', shape, [2]);
      expect(isThreadPath(n)).toBe(path === 'thread');
      const x = f32(rng(5), shape);
      const d = x.data as Float32Array;
      // [row, t, d]: a NaN first, in the middle and last along the reduced axis t, each in another output
      const [, , T, D] = shape;
      for (const [row, t, c] of [[0, 0, 0], [0, T >> 1, 3], [2, T - 1, 5]] as const) d[(row * T + t) * D + c] = NaN;
      const got = emulateKernel(lowerCudaNode(n, CTX), n, [x], join(dir, `nan_${path}`)).data as Float32Array;
      const want = reference(n, { x }).data as Float32Array;
      expect(want.filter((v) => Number.isNaN(v)).length).toBe(3);
      want.forEach((w, i) => (Number.isNaN(w) ? expect(got[i]).toBeNaN() : expect(got[i]).toBe(w)));
    }, 120_000);
});
