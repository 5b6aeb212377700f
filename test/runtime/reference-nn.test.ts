import { describe, expect, it } from 'vitest';
import { node, tensorType } from '../../ir/index.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { expectClose, inp, rand, ravel, run1, unravel } from './reference-helpers.ts';

// f32 results of f64 accumulations: within a couple of f32 ulps of the f64 value
const TOL = 1e-6;

function naiveMatmul(a: Tensor, b: Tensor, outShape: number[]): number[] {
  const [as, bs] = [a.type.shape, b.type.shape];
  const K = as[as.length - 1]!;
  return Array.from({ length: outShape.reduce((p, d) => p * d, 1) }, (_, i) => {
    const idx = unravel(i, outShape);
    const [m, n] = idx.slice(-2) as [number, number];
    const batch = idx.slice(0, -2);
    const pick = (s: readonly number[]) =>
      batch.slice(batch.length - (s.length - 2)).map((v, k) => (s[k] === 1 ? 0 : v));
    let sum = 0;
    for (let k = 0; k < K; k++) {
      sum += a.data[ravel([...pick(as), m, k], as)]! * b.data[ravel([...pick(bs), k, n], bs)]!;
    }
    return sum;
  });
}

describe('matmul and linear', () => {
  it('matmul broadcasts batch dims', () => {
    const [a, b] = [inp('a', 'f32', [2, 1, 5, 7]), inp('b', 'f32', [3, 7, 6])];
    const [at, bt] = [rand('f32', [2, 1, 5, 7], 1), rand('f32', [3, 7, 6], 2)];
    const got = run1(node('matmul', [a, b]), { a: at, b: bt });
    expect(got.type.shape).toEqual([2, 3, 5, 6]);
    expectClose(got.data, naiveMatmul(at, bt, [2, 3, 5, 6]), 0, TOL);
  });

  it('linear is x wᵀ + b, with row and column counts not multiples of the blocking', () => {
    const [x, w, b] = [inp('x', 'f32', [3, 5, 9]), inp('w', 'f32', [7, 9]), inp('b', 'f32', [7])];
    const [xt, wt, bt] = [rand('f32', [3, 5, 9], 3), rand('f32', [7, 9], 4), rand('f32', [7], 5)];
    const want = (bias: boolean) => Array.from({ length: 105 }, (_, i) => {
      const [r, n] = [Math.floor(i / 7), i % 7];
      let s = bias ? bt.data[n]! : 0;
      for (let k = 0; k < 9; k++) s += xt.data[r * 9 + k]! * wt.data[n * 9 + k]!;
      return s;
    });
    expectClose(run1(node('linear', [x, w, b]), { x: xt, w: wt, b: bt }).data, want(true), 0, TOL);
    expectClose(run1(node('linear', [x, w]), { x: xt, w: wt }).data, want(false), 0, TOL);
  });
});

describe('norms and softmax', () => {
  const x = inp('x', 'f32', [4, 6, 10]);
  const xt = tensor(x.type, rand('f32', [4, 6, 10], 6).data.map((v) => 3 * v + 1));
  const rows = (f: (row: number[]) => number[]) => {
    const out: number[] = [];
    for (let r = 0; r < 24; r++) out.push(...f(Array.from(xt.data.subarray(r * 10, r * 10 + 10))));
    return out;
  };

  it('layernorm matches (x − μ)/√(σ² + eps)·w + b with biased variance', () => {
    const [w, b] = [inp('w', 'f32', [10]), inp('b', 'f32', [10])];
    const [wt, bt] = [rand('f32', [10], 7), rand('f32', [10], 8)];
    const want = rows((row) => {
      const mu = row.reduce((p, v) => p + v, 0) / 10;
      const v = row.reduce((p, q) => p + (q - mu) ** 2, 0) / 10;
      return row.map((q, i) => ((q - mu) / Math.sqrt(v + 1e-5)) * wt.data[i]! + bt.data[i]!);
    });
    const got = run1(node('layernorm', [x, w, b], { eps: 1e-5 }), { x: xt, w: wt, b: bt });
    expectClose(got.data, want, 1e-6, TOL);
    const plain = run1(node('layernorm', [x], { eps: 1e-5 }), { x: xt });
    const row0 = Array.from(plain.data.subarray(0, 10));
    expect(row0.reduce((p, v) => p + v, 0)).toBeCloseTo(0, 5);
  });

  it('rmsnorm matches x/√(mean(x²) + eps)·w', () => {
    const w = inp('w', 'f32', [10]);
    const wt = rand('f32', [10], 9);
    const want = rows((row) => {
      const ms = row.reduce((p, v) => p + v * v, 0) / 10;
      return row.map((q, i) => (q / Math.sqrt(ms + 1e-6)) * wt.data[i]!);
    });
    expectClose(run1(node('rmsnorm', [x, w], { eps: 1e-6 }), { x: xt, w: wt }).data, want, 1e-6, TOL);
  });

  it('softmax over a middle axis sums to one along it', () => {
    const got = run1(node('softmax', [x], { axis: 1 }), { x: xt });
    const want = Array.from({ length: 240 }, (_, i) => {
      const [a, , c] = unravel(i, [4, 6, 10]);
      let sum = 0;
      for (let j = 0; j < 6; j++) sum += Math.exp(xt.data[ravel([a!, j, c!], [4, 6, 10])]!);
      return Math.exp(xt.data[i]!) / sum;
    });
    expectClose(got.data, want, 0, TOL);
  });
});

/** softmax(q kᵀ·scale + mask) v with the full score matrix materialised, as the test's independent oracle. */
type MaskFn = (b: number, h: number, i: number, j: number) => number;
function naiveAttention(q: Tensor, k: Tensor, v: Tensor, scale: number, mask?: MaskFn): number[] {
  const [B, H, Nq, D] = q.type.shape as number[] as [number, number, number, number];
  const [Nk, Dv] = [k.type.shape[2]!, v.type.shape[3]!];
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Nq; i++) {
    const scores = Array.from({ length: Nk }, (_, j) => {
      let s = 0;
      for (let d = 0; d < D; d++) {
        s += q.data[ravel([b, h, i, d], q.type.shape)]! * k.data[ravel([b, h, j, d], k.type.shape)]!;
      }
      return s * scale + (mask ? mask(b, h, i, j) : 0);
    });
    const max = Math.max(...scores);
    const p = scores.map((s) => Math.exp(s - max));
    const sum = p.reduce((a, c) => a + c, 0);
    for (let d = 0; d < Dv; d++) {
      out.push(p.reduce((a, pj, j) => a + pj * v.data[ravel([b, h, j, d], v.type.shape)]!, 0) / sum);
    }
  }
  return out;
}

describe('attention', () => {
  const [B, H, Nq, Nk, D, Dv] = [2, 3, 11, 13, 8, 5];
  const [q, k, v] = [inp('q', 'f32', [B, H, Nq, D]), inp('k', 'f32', [B, H, Nk, D]), inp('v', 'f32', [B, H, Nk, Dv])];
  const ins = { q: rand('f32', [B, H, Nq, D], 1), k: rand('f32', [B, H, Nk, D], 2), v: rand('f32', [B, H, Nk, Dv], 3) };

  it('matches an explicit softmax(q kᵀ·scale) v', () => {
    const got = run1(node('attention', [q, k, v], { scale: 0.7 }), ins);
    expect(got.type.shape).toEqual([B, H, Nq, Dv]);
    expectClose(got.data, naiveAttention(ins.q, ins.k, ins.v, 0.7), 0, TOL);
  });

  it('bool masks broadcast and exclude keys; additive masks add to the scores', () => {
    const m = inp('m', 'bool', [B, 1, 1, Nk]);
    const mt = rand('bool', [B, 1, 1, Nk], 4);
    mt.data[0] = 1;
    mt.data[Nk] = 1;
    const got = run1(node('attention', [q, k, v, m], { scale: 0.5 }), { ...ins, m: mt });
    const want = naiveAttention(ins.q, ins.k, ins.v, 0.5, (b, _h, _i, j) => (mt.data[b * Nk + j] ? 0 : -Infinity));
    expectClose(got.data, want, 0, TOL);
    const a = inp('a', 'f32', [Nq, Nk]);
    const at = rand('f32', [Nq, Nk], 5);
    const add = run1(node('attention', [q, k, v, a], { scale: 0.5 }), { ...ins, a: at });
    expectClose(add.data, naiveAttention(ins.q, ins.k, ins.v, 0.5, (_b, _h, i, j) => at.data[i * Nk + j]!), 0, TOL);
  });

  it('a fully masked row gives NaN, like softmax over −∞', () => {
    const m = inp('m', 'bool', [Nq, Nk]);
    const mt = tensor(tensorType('bool', [Nq, Nk]), new Uint8Array(Nq * Nk).fill(1));
    mt.data.fill(0, 0, Nk);
    const got = run1(node('attention', [q, k, v, m], { scale: 1 }), { ...ins, m: mt });
    expect(Number.isNaN(got.data[0]!)).toBe(true);
    expect(Number.isFinite(got.data[Dv]!)).toBe(true);
  });
});
