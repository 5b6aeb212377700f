import { isDType, isFloat, type DType } from './dtype.ts';
import { IRError } from './errors.ts';
import { isOp, type Attrs, type Op } from './ops.ts';
import { sparseAttentionType } from './infer-sparse-attention.ts';
import { tileSelectType } from './infer-tile-select.ts';
import { broadcastShapes, formatType, normAxis, numel, type TensorType } from './types.ts';

type Rule = (src: readonly TensorType[], attrs: Attrs) => TensorType;

function fail(op: string, msg: string, src: readonly TensorType[]): never {
  throw new IRError(`${op}: ${msg} (operands: ${src.map(formatType).join(', ') || 'none'})`);
}

function arity(op: string, src: readonly TensorType[], min: number, max = min): void {
  if (src.length < min || src.length > max) {
    fail(op, `expects ${min === max ? min : `${min}..${max}`} operands, got ${src.length}`, src);
  }
}

function num(op: string, attrs: Attrs, name: string, fallback?: number): number {
  const v = attrs[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new IRError(`${op}: attribute ${name} must be a number`);
  return v;
}

function ints(op: string, attrs: Attrs, name: string): number[] {
  const v = attrs[name];
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) {
    throw new IRError(`${op}: attribute ${name} must be a list of integers`);
  }
  return v as number[];
}

function axisOf(op: string, axis: number, rank: number, src: readonly TensorType[]): number {
  const a = normAxis(axis, rank);
  if (a === undefined) fail(op, `axis ${axis} out of range for rank ${rank}`, src);
  return a;
}

function floatOperand(op: string, src: readonly TensorType[], i = 0): TensorType {
  const t = src[i]!;
  if (!isFloat(t.dtype)) fail(op, `operand ${i} must be a float tensor`, src);
  return t;
}


function broadcast(op: string, src: readonly TensorType[]): number[] {
  const s = broadcastShapes(...src.map((t) => t.shape));
  if (!s) fail(op, 'shapes do not broadcast', src);
  return s;
}

function sameDtype(op: string, src: readonly TensorType[]): DType {
  const d = src[0]!.dtype;
  if (src.some((t) => t.dtype !== d)) fail(op, 'operands must share one dtype', src);
  return d;
}

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
  token_scale: (src, attrs) => {
    if (!hasPrologue(attrs)) arity('token_scale', src, 1);
    else prologue('token_scale', src, attrs);
    format('token_scale', attrs, bits('token_scale', attrs));
    const clip = attrs['clip'];
    if (clip !== undefined && !(typeof clip === 'number' && clip > 0 && clip <= 1)) {
      fail('token_scale', `clip must be a number in (0, 1], got ${JSON.stringify(clip)}`, src);
    }
    const x = floatOperand('token_scale', src);
    if (x.shape.length < 1) fail('token_scale', 'expects x[..., K]', src);
    return { dtype: 'f32', shape: [...x.shape.slice(0, -1), 1] };
  },
  quantize: (src, attrs) => {
    if (!hasPrologue(attrs)) arity('quantize', src, 2);
    else prologue('quantize', src.slice(0, -1), attrs);
    if (src.length < 2) fail('quantize', 'expects x and Δ', src);
    if (bits('quantize', attrs) > 8) throw new IRError('quantize: bits must be ≤ 8 (results are held in i8)');
    format('quantize', attrs, attrs['bits'] as number);
    floatOperand('quantize', src);
    broadcastTo('quantize', src[src.length - 1]!, src[0]!.shape, src);
    return { dtype: 'i8', shape: src[0]!.shape };
  },
  dequantize: (src, attrs) => {
    arity('dequantize', src, 2);
    const q = src[0]!;
    if (!['i8', 'i32', 'i4'].includes(q.dtype)) fail('dequantize', 'expects i8, i32 or i4 values', src);
    if (format('dequantize', attrs, 8) === 'e4m3' && q.dtype !== 'i8') fail('dequantize', 'e4m3 codes are i8 bytes', src);
    floatOperand('dequantize', src, 1);
    broadcastTo('dequantize', src[1]!, q.shape, src);
    return { dtype: src[1]!.dtype, shape: q.shape };
  },
  qgemm: (src, attrs) => {
    const [gate, residual] = [flag('qgemm', attrs, 'gate'), flag('qgemm', attrs, 'residual')];
    const extra = Number(gate) + Number(residual);
    arity('qgemm', src, 4 + extra, 5 + extra);
    const out = qgemmCore(src.slice(0, src.length - extra), attrs);
    qgemmEpilogue(out, src.slice(src.length - extra), gate, attrs, src);
    return out;
  },
  fused: (src, attrs) => {
    if (typeof attrs['expr'] !== 'string') throw new IRError('fused: attribute expr must be a string');
    const to = attrs['dtype'];
    const dtype = typeof to === 'string' && isDType(to) ? to : src[0]?.dtype;
    if (!dtype) throw new IRError('fused: needs an operand or a dtype attribute');
    return { dtype, shape: broadcast('fused', src) };
  },
};

function qgemmCore(src: readonly TensorType[], attrs: Attrs): TensorType {
  const fp8 = format('qgemm', attrs, bits('qgemm', attrs, 'abits'), 'aformat') === 'e4m3';
  bits('qgemm', attrs, 'wbits');
  const [x, sx, w, sw, b] = src as [TensorType, TensorType, TensorType, TensorType, TensorType | undefined];
  if (fp8 && w.dtype !== 'i4') fail('qgemm', 'e4m3 activations pair with i4 weights (exact in e4m3)', src);
  if (x.dtype !== 'i8' || !['i4', 'i8'].includes(w.dtype)) fail('qgemm', 'expects i8 activations and i4/i8 weights', src);
  if (w.shape.length !== 2 || x.shape[x.shape.length - 1] !== w.shape[1]) fail('qgemm', 'expects x[..., K], w[N, K]', src);
  const n = w.shape[0]!;
  const scaleX = [...x.shape.slice(0, -1), 1];
  if (sx.shape.join() !== scaleX.join() || sw.shape.join() !== `${n},1`) {
    fail('qgemm', `scales must be [${scaleX.join(',')}] and [${n},1]`, src);
  }
  if (b && (b.shape.length !== 1 || b.shape[0] !== n)) fail('qgemm', `bias must be [${n}]`, src);
  return { dtype: 'f32', shape: [...x.shape.slice(0, -1), n] };
}

export const QGEMM_ACTS = ['none', 'gelu_tanh', 'gelu_erf'] as const;

/** Epilogue operands: g[B, N] (gate) then r (residual, the output's type). */
function qgemmEpilogue(
  out: TensorType, ops: readonly TensorType[], gate: boolean, attrs: Attrs, src: readonly TensorType[],
): void {
  const act = attrs['act'] ?? 'none';
  if (!(QGEMM_ACTS as readonly unknown[]).includes(act)) {
    throw new IRError(`qgemm: attribute act must be one of ${QGEMM_ACTS.join(', ')}, got ${JSON.stringify(act)}`);
  }
  const [g, r] = gate ? [ops[0], ops[1]] : [undefined, ops[0]];
  if (g) {
    const [b, , n] = out.shape;
    if (out.shape.length !== 3 || g.dtype !== 'f32' || g.shape.join() !== `${b},${n}`) {
      fail('qgemm', `gate must be f32[${b},${n}] over an output [B, T, N], got output [${out.shape.join(',')}]`, src);
    }
  }
  if (r && (r.dtype !== 'f32' || r.shape.join() !== out.shape.join())) {
    fail('qgemm', `residual must be f32[${out.shape.join(',')}]`, src);
  }
}

function flag(op: string, attrs: Attrs, name: string): boolean {
  const v = attrs[name] ?? false;
  if (typeof v !== 'boolean') throw new IRError(`${op}: attribute ${name} must be true or false`);
  return v;
}

const PROLOGUE_ATTRS = ['norm', 'affine', 'modulate', 'expr'];

/** Whether a token_scale / quantize evaluates a fused producer chain (ir/ops.ts, producer prologue). */
export function hasPrologue(attrs: Attrs): boolean {
  return PROLOGUE_ATTRS.some((k) => attrs[k] !== undefined);
}

/** Checks the chain operands x, w?, b?, shift?, scale?, e1..; the chain keeps x's type. */
function prologue(op: string, src: readonly TensorType[], attrs: Attrs): void {
  if (src.length < 1) fail(op, 'expects x', src);
  const x = floatOperand(op, src);
  const norm = attrs['norm'];
  if (norm !== undefined && norm !== 'layernorm' && norm !== 'rmsnorm') {
    throw new IRError(`${op}: attribute norm must be "layernorm" or "rmsnorm"`);
  }
  const affine = num(op, attrs, 'affine', 0);
  if (!Number.isInteger(affine) || affine < 0 || affine > (norm === 'rmsnorm' ? 1 : 2) || (affine && !norm)) {
    throw new IRError(`${op}: attribute affine must count the ${norm ?? 'norm'} parameters (got ${affine})`);
  }
  if (norm) normRow(op, src.slice(0, 1 + affine), attrs);
  const mod = flag(op, attrs, 'modulate');
  const at = 1 + affine;
  if (mod) adaln(op, [x, ...src.slice(at, at + 2)]);
  if (mod && src.length < at + 2) fail(op, 'modulate needs shift and scale operands', src);
  const extras = src.slice(at + (mod ? 2 : 0));
  if (attrs['expr'] === undefined && extras.length) fail(op, `${extras.length} operands left over without an expr`, src);
  if (attrs['expr'] !== undefined && typeof attrs['expr'] !== 'string') throw new IRError(`${op}: expr must be a string`);
  for (const e of extras) broadcastTo(op, e, x.shape, src);
}

function bits(op: string, attrs: Attrs, name = 'bits'): number {
  const b = attrs[name];
  if (typeof b !== 'number' || !Number.isInteger(b) || b < 2 || b > 8) {
    throw new IRError(`${op}: attribute ${name} must be an integer bit width in 2..8`);
  }
  return b;
}

/** The activation format attr (ir/quant.ts ActFormat); e4m3 codes are 8-bit. */
function format(op: string, attrs: Attrs, nbits: number, name = 'format'): 'int' | 'e4m3' {
  const f = attrs[name] ?? 'int';
  if (f !== 'int' && f !== 'e4m3') throw new IRError(`${op}: attribute ${name} must be "int" or "e4m3"`);
  if (f === 'e4m3' && nbits !== 8) throw new IRError(`${op}: ${name} e4m3 needs 8 bits, got ${nbits}`);
  return f;
}

function broadcastTo(op: string, t: TensorType, shape: readonly number[], src: readonly TensorType[]): void {
  const s = broadcastShapes(t.shape, shape);
  if (!s || s.join() !== shape.join()) fail(op, `scale [${t.shape.join(',')}] does not broadcast to [${shape.join(',')}]`, src);
}

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

function normRow(op: string, src: readonly TensorType[], attrs: Attrs): TensorType {
  num(op, attrs, 'eps');
  const x = floatOperand(op, src);
  const d = x.shape[x.shape.length - 1];
  for (const p of src.slice(1)) if (p.shape.length !== 1 || p.shape[0] !== d) fail(op, `affine params must be [${d}]`, src);
  return x;
}

function adaln(op: string, src: readonly TensorType[]): void {
  const x = src[0]!;
  if (x.shape.length !== 3) fail(op, 'expects x[B, N, D]', src);
  const [b, , d] = x.shape as [number, number, number];
  for (const p of src.slice(1)) {
    if (p.shape.length !== 2 || p.shape[0] !== b || p.shape[1] !== d) fail(op, `conditioning must be [${b}, ${d}]`, src);
  }
  sameDtype(op, src);
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

