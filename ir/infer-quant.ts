import { IRError } from './errors.ts';
import type { Attrs, Op } from './ops.ts';
import type { TensorType } from './types.ts';
import {
  adaln, arity, broadcastTo, fail, floatOperand, normRow, num, type Rule,
} from './infer-checks.ts';

// The quantization ops' type rules: Q/DQ, per-token scales and the fused int GEMM with its epilogue, plus the
// producer-prologue check that token_scale and quantize share. Merged into ir/infer.ts's table.

export const QUANT_RULES: Partial<Record<Op, Rule>> = {
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
