import { node, type Node } from '../../ir/node.ts';
import type { DType } from '../../ir/dtype.ts';
import type { Shape } from '../../ir/types.ts';
import { packNibbles } from '../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { mulberry32 } from '../data/prng.ts';
import type { GemmShape } from './gemm-shapes.ts';

/** One GEMM as a single IR node over `input` leaves, with the seeded operand values in binding order. */
export interface GemmCase {
  readonly node: Node;
  readonly operands: readonly Tensor[];
}

function leaf(name: string, dtype: DType, shape: Shape): Node {
  return node('input', [], { name }, { dtype, shape });
}

function build(op: 'qgemm' | 'linear', operands: Tensor[], attrs: Record<string, number>): GemmCase {
  const leaves = operands.map((t, i) => leaf(`x${i}`, t.type.dtype, t.type.shape));
  return { node: node(op, leaves, attrs), operands };
}

/** Uniform integers in [lo, hi] ⊂ i8, a fresh mulberry32 stream per operand (typed: M·K reaches 10^8). */
function ints(seed: number, count: number, lo: number, hi: number): Int8Array {
  const r = mulberry32(seed >>> 0);
  const span = hi - lo + 1;
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) out[i] = lo + Math.floor(r.next() * span);
  return out;
}

function floats(seed: number, shape: Shape, lo: number, hi: number): Tensor {
  const r = mulberry32(seed >>> 0);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * r.next();
  return tensor({ dtype: 'f32', shape }, data);
}

export interface QgemmCaseOptions {
  /** activation bits: values span the signed `abits` range (8 → [-128, 127], 6 → [-32, 31]) */
  readonly abits: number;
  readonly seed: number;
  /** Δx = Δw = 1 and no bias, so the output is the exact integer sum (exactness checks) */
  readonly unit?: boolean;
}

/** qgemm(xq: i8[M, K], Δx[M, 1], wq: i4|i8[N, K], Δw[N, 1], b[N]) with seeded values. */
export function qgemmCase(s: Pick<GemmShape, 'm' | 'k' | 'n' | 'wDtype'>, o: QgemmCaseOptions): GemmCase {
  const half = 2 ** (o.abits - 1);
  const x = tensor({ dtype: 'i8', shape: [s.m, s.k] }, ints(o.seed, s.m * s.k, -half, half - 1));
  const wbits = s.wDtype === 'i4' ? 4 : 8;
  const wv = ints(o.seed + 1, s.n * s.k, -(2 ** (wbits - 1)), 2 ** (wbits - 1) - 1);
  const w = s.wDtype === 'i4'
    ? tensor({ dtype: 'i4', shape: [s.n, s.k] }, packNibbles(wv, [s.n, s.k]))
    : tensor({ dtype: 'i8', shape: [s.n, s.k] }, wv);
  const ones = (n: number): Tensor => tensor({ dtype: 'f32', shape: [n, 1] }, new Float32Array(n).fill(1));
  const operands = o.unit
    ? [x, ones(s.m), w, ones(s.n)]
    : [x, floats(o.seed + 2, [s.m, 1], 1e-3, 3e-2), w, floats(o.seed + 3, [s.n, 1], 1e-3, 5e-2),
      floats(o.seed + 4, [s.n], -1, 1)];
  return build('qgemm', operands, { abits: o.abits, wbits });
}

/** linear(x[M, K], w[N, K], b[N]): the FP GEMM the f16 and f32 builds run for the same shape. */
export function linearCase(s: Pick<GemmShape, 'm' | 'k' | 'n'>, seed: number): GemmCase {
  const bound = 1 / Math.sqrt(s.k);
  return build('linear', [
    floats(seed, [s.m, s.k], -1, 1), floats(seed + 1, [s.n, s.k], -bound, bound), floats(seed + 2, [s.n], -1, 1),
  ], {});
}
