import { isDType } from './dtype.ts';
import { IRError } from './errors.ts';
import { isOp, type Attrs, type Op } from './ops.ts';
import {
  adaln, arity, axisOf, broadcast, fail, floatOperand, ints, normRow, num, sameDtype, type Rule,
} from './infer-checks.ts';
import { QUANT_RULES } from './infer-quant.ts';
import { scheduleBounds, sparseAttentionType } from './infer-sparse-attention.ts';
import { tileSelectType } from './infer-tile-select.ts';
import { broadcastShapes, numel, type TensorType } from './types.ts';

// Importers (ir/index.ts, runtime, targets, passes) reach the quant exports through this file.
export { hasPrologue, QGEMM_ACTS } from './infer-quant.ts';

const RULES: Partial<Record<Op, Rule>> = {
  cast: (src, attrs) => {
    const to = attrs['to'];
    if (typeof to !== 'string' || !isDType(to)) throw new IRError(`cast: attribute to must be a dtype`);
    return { dtype: to, shape: src[0]!.shape };
  },
  where: (src) => {
    arity('where', src, 3);
    if (src[0]!.dtype !== 'bool') fail('where', 'condition must be bool', src);
    if (src[1]!.dtype !== src[2]!.dtype) fail('where', 'branches must share one dtype', src);
    return { dtype: src[1]!.dtype, shape: broadcast('where', src) };
  },
  reduce_sum: (src, attrs) => reduce('reduce_sum', src, attrs),
  reduce_mean: (src, attrs) => reduce('reduce_mean', src, attrs),
  reduce_max: (src, attrs) => reduce('reduce_max', src, attrs),
  matmul: (src) => {
    arity('matmul', src, 2);
    const [a, b] = [src[0]!, src[1]!];
    if (a.shape.length < 2 || b.shape.length < 2) fail('matmul', 'operands must have rank ≥ 2', src);
    const [m, k] = a.shape.slice(-2) as [number, number];
    const [k2, n] = b.shape.slice(-2) as [number, number];
    if (k !== k2) fail('matmul', `inner dimensions differ (${k} vs ${k2})`, src);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    if (!batch) fail('matmul', 'batch dimensions do not broadcast', src);
    return { dtype: sameDtype('matmul', src), shape: [...batch, m, n] };
  },
  linear: (src) => {
    arity('linear', src, 2, 3);
    const [x, w, b] = [src[0]!, src[1]!, src[2]];
    if (x.shape.length < 1 || w.shape.length !== 2) fail('linear', 'expects x[..., K] and w[N, K]', src);
    const k = x.shape[x.shape.length - 1]!;
    const [n, k2] = w.shape as [number, number];
    if (k !== k2) fail('linear', `x has ${k} features but w expects ${k2}`, src);
    if (b && (b.shape.length !== 1 || b.shape[0] !== n)) fail('linear', `bias must be [${n}]`, src);
    return { dtype: sameDtype('linear', src), shape: [...x.shape.slice(0, -1), n] };
  },
  layernorm: (src, attrs) => norm('layernorm', src, attrs, 3),
  rmsnorm: (src, attrs) => norm('rmsnorm', src, attrs, 2),
  softmax: (src, attrs) => {
    arity('softmax', src, 1);
    axisOf('softmax', num('softmax', attrs, 'axis', -1), src[0]!.shape.length, src);
    return floatOperand('softmax', src);
  },
  attention: (src, attrs) => {
    arity('attention', src, 3, 4);
    num('attention', attrs, 'scale');
    const [q, k, v, m] = src as [TensorType, TensorType, TensorType, TensorType | undefined];
    if (q.shape.length !== 4 || k.shape.length !== 4 || v.shape.length !== 4) {
      fail('attention', 'q, k, v must be [B, H, N, D]', src);
    }
    const [b, h, nq, d] = q.shape as [number, number, number, number];
    const [kb, kh, nk, kd] = k.shape as [number, number, number, number];
    const [vb, vh, vn, dv] = v.shape as [number, number, number, number];
    if (kb !== b || vb !== b || kh !== h || vh !== h) fail('attention', 'batch and head counts must agree', src);
    if (kd !== d) fail('attention', 'q and k head dims differ', src);
    if (vn !== nk) fail('attention', 'k and v token counts differ', src);
    if (m && !broadcastShapes(m.shape, [b, h, nq, nk])?.every((x, i) => x === [b, h, nq, nk][i])) {
      fail('attention', `mask must broadcast to [${b},${h},${nq},${nk}]`, src);
    }
    if (m && m.dtype !== 'bool' && m.dtype !== q.dtype) fail('attention', 'mask must be bool or the q dtype', src);
    return { dtype: sameDtype('attention', src.slice(0, 3)), shape: [b, h, nq, dv] };
  },
  attention_colsum: (src, attrs) => {
    arity('attention_colsum', src, 2);
    num('attention_colsum', attrs, 'scale');
    const [q, k] = src as [TensorType, TensorType];
    if (q.shape.length !== 4 || k.shape.length !== 4) fail('attention_colsum', 'q, k must be [B, H, N, D]', src);
    floatOperand('attention_colsum', src);
    sameDtype('attention_colsum', src);
    const [b, h, , d] = q.shape as [number, number, number, number];
    if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== d) {
      fail('attention_colsum', 'q and k must agree in batch, heads and head dim', src);
    }
    return { dtype: 'f32', shape: [b, k.shape[2]!] };
  },
  sparse_attention: sparseAttentionType,
  tile_select: tileSelectType,
  reshape: (src, attrs) => {
    arity('reshape', src, 1);
    const shape = ints('reshape', attrs, 'shape');
    if (shape.some((d) => d < 0) || numel(shape) !== numel(src[0]!.shape)) {
      fail('reshape', `cannot reshape to [${shape.join(',')}]`, src);
    }
    return { dtype: src[0]!.dtype, shape };
  },
  permute: (src, attrs) => {
    arity('permute', src, 1);
    const perm = ints('permute', attrs, 'perm');
    const r = src[0]!.shape.length;
    if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      fail('permute', `perm [${perm.join(',')}] is not a permutation of rank ${r}`, src);
    }
    return { dtype: src[0]!.dtype, shape: perm.map((p) => src[0]!.shape[p]!) };
  },
  transpose: (src, attrs) => {
    arity('transpose', src, 1);
    const r = src[0]!.shape.length;
    const a = axisOf('transpose', num('transpose', attrs, 'dim0'), r, src);
    const b = axisOf('transpose', num('transpose', attrs, 'dim1'), r, src);
    const shape = [...src[0]!.shape];
    [shape[a], shape[b]] = [shape[b]!, shape[a]!];
    return { dtype: src[0]!.dtype, shape };
  },
  concat: (src, attrs) => {
    if (src.length < 1) fail('concat', 'expects at least one operand', src);
    const r = src[0]!.shape.length;
    const a = axisOf('concat', num('concat', attrs, 'axis'), r, src);
    const d = sameDtype('concat', src);
    let total = 0;
    for (const t of src) {
      if (t.shape.length !== r || t.shape.some((x, i) => i !== a && x !== src[0]!.shape[i])) {
        fail('concat', `shapes differ off axis ${a}`, src);
      }
      total += t.shape[a]!;
    }
    const shape = [...src[0]!.shape];
    shape[a] = total;
    return { dtype: d, shape };
  },
  slice: (src, attrs) => {
    arity('slice', src, 1);
    const s = src[0]!.shape;
    const a = axisOf('slice', num('slice', attrs, 'axis'), s.length, src);
    const [start, end, step] = [num('slice', attrs, 'start'), num('slice', attrs, 'end'), num('slice', attrs, 'step', 1)];
    if (!(start >= 0 && end <= s[a]! && start < end && step >= 1 && Number.isInteger(step))) {
      fail('slice', `range ${start}:${end}:${step} is invalid for axis ${a} of size ${s[a]}`, src);
    }
    const shape = [...s];
    shape[a] = Math.ceil((end - start) / step);
    return { dtype: s.length ? src[0]!.dtype : src[0]!.dtype, shape };
  },
  gather: (src, attrs) => {
    arity('gather', src, 2);
    const [x, idx] = [src[0]!, src[1]!];
    if (idx.dtype !== 'i32') fail('gather', 'indices must be i32', src);
    const a = axisOf('gather', num('gather', attrs, 'axis', 0), x.shape.length, src);
    return { dtype: x.dtype, shape: [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)] };
  },
  timestep_embedding: (src, attrs) => {
    arity('timestep_embedding', src, 1);
    const dim = num('timestep_embedding', attrs, 'dim');
    if (src[0]!.shape.length !== 1) fail('timestep_embedding', 'expects t[B]', src);
    if (!Number.isInteger(dim) || dim < 2 || dim % 2) throw new IRError('timestep_embedding: dim must be even');
    return { dtype: floatOperand('timestep_embedding', src).dtype, shape: [src[0]!.shape[0]!, dim] };
  },
  schedule_value: (src, attrs) => {
    arity('schedule_value', src, 1);
    if (src[0]!.shape.length !== 1) fail('schedule_value', 'expects t[B]', src);
    const values = attrs['values'];
    if (!Array.isArray(values) || values.length < 1 || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new IRError(`schedule_value: attribute values must be a non-empty list of numbers, got ${JSON.stringify(values)}`);
    }
    scheduleBounds(attrs, values.length, 'schedule_value', 'values');
    return floatOperand('schedule_value', src);
  },
  modulate: (src) => {
    arity('modulate', src, 3);
    adaln('modulate', src);
    return src[0]!;
  },
  gate: (src) => {
    arity('gate', src, 2);
    adaln('gate', src);
    return src[0]!;
  },
  rope3d: (src, attrs) => {
    arity('rope3d', src, 1);
    const x = floatOperand('rope3d', src);
    const grid = ints('rope3d', attrs, 'grid');
    const dims = ints('rope3d', attrs, 'dims');
    const offset = num('rope3d', attrs, 'offset', 0);
    num('rope3d', attrs, 'theta', 10000);
    if (x.shape.length !== 4 || grid.length !== 3 || dims.length !== 3) fail('rope3d', 'expects x[B,H,N,D]', src);
    if (dims.some((d) => d % 2) || dims.reduce((a, b) => a + b, 0) !== x.shape[3]) {
      fail('rope3d', `dims [${dims.join(',')}] must be even and sum to the head dim`, src);
    }
    if (offset + numel(grid) !== x.shape[2]) fail('rope3d', `offset + T·H·W must equal the token count`, src);
    return x;
  },
  fused: (src, attrs) => {
    if (typeof attrs['expr'] !== 'string') throw new IRError('fused: attribute expr must be a string');
    const to = attrs['dtype'];
    const dtype = typeof to === 'string' && isDType(to) ? to : src[0]?.dtype;
    if (!dtype) throw new IRError('fused: needs an operand or a dtype attribute');
    return { dtype, shape: broadcast('fused', src) };
  },
  ...QUANT_RULES,
};

function reduce(op: string, src: readonly TensorType[], attrs: Attrs): TensorType {
  arity(op, src, 1);
  const s = src[0]!.shape;
  const axes = new Set(ints(op, attrs, 'axes').map((a) => axisOf(op, a, s.length, src)));
  const keep = attrs['keepdims'] === true;
  const shape: number[] = [];
  s.forEach((d, i) => {
    if (!axes.has(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return { dtype: src[0]!.dtype, shape };
}

function norm(op: string, src: readonly TensorType[], attrs: Attrs, max: number): TensorType {
  arity(op, src, 1, max);
  return normRow(op, src, attrs);
}

/** The result type of an op, or an IRError naming what is wrong. Leaves carry their type explicitly. */
export function inferType(op: Op, src: readonly TensorType[], attrs: Attrs): TensorType {
  if (!isOp(op)) throw new IRError(`unknown op '${op}'`);
  const rule = RULES[op];
  if (rule) return rule(src, attrs);
  if (op === 'input' || op === 'param' || op === 'const') throw new IRError(`${op}: a leaf needs an explicit type`);
  if (op === 'gelu' || op === 'cast' || isUnaryName(op)) {
    arity(op, src, 1);
    return floatOperand(op, src);
  }
  arity(op, src, 2);
  return { dtype: sameDtype(op, src), shape: broadcast(op, src) };
}

function isUnaryName(op: Op): boolean {
  return !['add', 'sub', 'mul', 'div', 'max', 'min', 'pow'].includes(op);
}
