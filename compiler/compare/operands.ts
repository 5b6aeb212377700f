import type { Node } from '../../ir/node.ts';
import { qmax } from '../../ir/quant.ts';
import { numel, type TensorType } from '../../ir/types.ts';
import { packNibbles } from '../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { mulberry32 } from '../data/prng.ts';

/*
 * Fresh operands for one kernel, drawn by the role each operand plays, so every kernel runs on values it meets in
 * a forward (never zeros, never all one value): integers over their full quantized range, scales Δ positive and of
 * the size quantization produces, gather indices inside the table, sparse attention tile lists valid, flow time in
 * [0, 1), the rest uniform in [-1, 1).
 */

/** How one operand's values are drawn: integers in [lo, hi], or floats uniform in [lo, hi). */
export type Role =
  | { readonly kind: 'int'; readonly lo: number; readonly hi: number }
  | { readonly kind: 'float'; readonly lo: number; readonly hi: number };

// Δ of an 8-bit activation row of O(1) values is ~1/127; weights' per-channel Δ are of the same order
const ACT_SCALE = { kind: 'float', lo: 1e-3, hi: 3e-2 } as const;
const WEIGHT_SCALE = { kind: 'float', lo: 1e-3, hi: 5e-2 } as const;
const SIGNED = { kind: 'float', lo: -1, hi: 1 } as const;
const POSITIVE = { kind: 'float', lo: 0.1, hi: 2 } as const;
// ops whose float input must be positive to stay finite (as an op, or anywhere in a fused expression)
const POSITIVE_ONLY = /\b(log|sqrt|rsqrt|recip|pow|div)\b/;

/** `unit`: qgemm with Δx = Δw = 1 and integer epilogue operands, whose exact result is an integer sum. */
export function kernelOperands(n: Node, seed: number, opts: { unit?: boolean } = {}): Tensor[] {
  return n.src.map((s, i) => n.op === 'sparse_attention' && i === 3 ? tileLists(n, seed + 7919 * (i + 1))
    : randomOperand(s.type, role(n, i, opts.unit === true), seed + 7919 * (i + 1)));
}

/** sparse_attention's kept tiles: per row a seeded ascending subset of the key tiles, −1 padded (ir/ops.ts). */
function tileLists(n: Node, seed: number): Tensor {
  const type = n.src[3]!.type;
  const width = type.shape.at(-1)!;
  const total = Math.ceil(n.src[1]!.type.shape[2]! / (n.attrs['tile'] as number));
  const rng = mulberry32(seed >>> 0);
  const rows = type.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const data = Array.from({ length: rows }, () => {
    const count = 1 + Math.floor(rng.next() * width);
    const order = Array.from({ length: total }, (_, t) => t);
    for (let i = total - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const picked = order.slice(0, count).sort((a, b) => a - b);
    return [...picked, ...new Array<number>(width - count).fill(-1)];
  });
  return tensor(type, Int32Array.from(data.flat()));
}

function role(n: Node, i: number, unit: boolean): Role {
  const t = n.src[i]!.type;
  if (t.dtype === 'i4') return { kind: 'int', lo: -8, hi: 7 };
  if (t.dtype === 'u4') return { kind: 'int', lo: 0, hi: 15 };
  if (t.dtype === 'bool') return { kind: 'int', lo: 0, hi: 1 };
  if (t.dtype === 'u8' || t.dtype === 'u32') return { kind: 'int', lo: 0, hi: 255 };
  if (t.dtype === 'i8') return signedBits(n.op === 'qgemm' && i === 0 ? n.attrs['abits'] : n.src[i]!.attrs['bits']);
  if (t.dtype === 'i32') return n.op === 'gather' && i === 1 ? gatherRange(n) : { kind: 'int', lo: -1000, hi: 1000 };
  return floatRole(n, i, unit);
}

function floatRole(n: Node, i: number, unit: boolean): Role {
  if (n.op === 'qgemm') {
    if (i === 1 || i === 3) return unit ? { kind: 'int', lo: 1, hi: 1 } : i === 1 ? ACT_SCALE : WEIGHT_SCALE;
    // bias, gate, residual: small nonzero integers keep the unit-scale result an exact integer
    if (unit && i > 3) return { kind: 'int', lo: 1, hi: 3 };
    return SIGNED;
  }
  if (n.op === 'quantize' && i === n.src.length - 1) {
    // Δ from 0.5/qmax to 2/qmax: O(1) inputs span most of the integer range and the largest clamp
    const q = qmax(typeof n.attrs['bits'] === 'number' ? n.attrs['bits'] : 8);
    return { kind: 'float', lo: 0.5 / q, hi: 2 / q };
  }
  if (n.op === 'dequantize' && i === 1) return WEIGHT_SCALE;
  if (n.op === 'timestep_embedding' || n.op === 'schedule_value' || (n.op === 'sparse_attention' && i === 4)) {
    return { kind: 'float', lo: 0, hi: 1 };
  }
  const expr = typeof n.attrs['expr'] === 'string' ? n.attrs['expr'] : '';
  return POSITIVE_ONLY.test(`${n.op} ${expr}`) ? POSITIVE : SIGNED;
}

function signedBits(bits: unknown): Role {
  const b = typeof bits === 'number' && bits >= 2 && bits <= 8 ? bits : 8;
  return { kind: 'int', lo: -(2 ** (b - 1)), hi: 2 ** (b - 1) - 1 };
}

function gatherRange(n: Node): Role {
  const table = n.src[0]!.type.shape;
  const a = typeof n.attrs['axis'] === 'number' ? n.attrs['axis'] : 0;
  const size = table[a < 0 ? a + table.length : a] ?? 1;
  return { kind: 'int', lo: 0, hi: size - 1 };
}

/** A tensor of `type` with values drawn from `r`: a fresh mulberry32 stream per seed. */
export function randomOperand(type: TensorType, r: Role, seed: number): Tensor {
  const rng = mulberry32(seed >>> 0);
  const n = numel(type.shape);
  if (r.kind === 'float') {
    return tensor(type, Float32Array.from({ length: n }, () => r.lo + (r.hi - r.lo) * rng.next()));
  }
  const span = r.hi - r.lo + 1;
  const ints = Int32Array.from({ length: n }, () => r.lo + Math.floor(rng.next() * span));
  switch (type.dtype) {
    case 'i4':
    case 'u4':
      return tensor(type, packNibbles(ints, type.shape));
    case 'i8':
      return tensor(type, Int8Array.from(ints));
    case 'u8':
    case 'bool':
      return tensor(type, Uint8Array.from(ints));
    case 'u32':
      return tensor(type, Uint32Array.from(ints));
    case 'i32':
      return tensor(type, ints);
    default:
      return tensor(type, Float32Array.from(ints));
  }
}
