import { isFloat, type DType } from '../../ir/dtype.ts';
import { f32Bound } from '../../ir/infer-tile-select.ts';
import { C_STYLE_OPS, floatLiteral, geluWith, type OpRender, type OpTable } from '../c-style.ts';

/**
 * CUDA C++ spellings (tinygrad's CUDARenderer over CStyleLanguage): the shared C-style table with only the rows
 * that differ, plus the scalar types and literals of the generated source. Storage follows the WebGPU buffer
 * contract (targets/target.ts storageElem) so one weights.bin serves both targets: floats as `float` (f32 only in
 * this slice), i32 as `int`, bool / u8 / u32 as `unsigned`, i8 packed 4 per word and i4 8 per word.
 */

/** The type a value has inside a kernel: every float computes in f32. */
export type CudaValue = 'float' | 'int' | 'unsigned' | 'bool';

export function cudaValueOf(dtype: DType): CudaValue {
  if (isFloat(dtype)) return 'float';
  if (dtype === 'bool') return 'bool';
  if (dtype === 'i32') return 'int';
  if (dtype === 'u32' || dtype === 'u8') return 'unsigned';
  throw new Error(`cuda: no element kernel for packed dtype ${dtype} here (quantize/qgemm/dequantize read it)`);
}

/** The C type one element is stored as (unpacked dtypes only). */
export function cudaStorageOf(dtype: DType, elem: 'f32' | 'f16'): string {
  if (isFloat(dtype)) {
    if (elem !== 'f32') throw new Error(`cuda: ${elem} storage is not supported yet (f32 only)`);
    return 'float';
  }
  return cudaValueOf(dtype) === 'int' ? 'int' : 'unsigned';
}

/** A numeric literal of a value type; non-finite floats are bit patterns (no inf/NaN literal in C++). */
export function cudaLiteral(v: number, t: CudaValue): string {
  if (t === 'bool') return v !== 0 ? 'true' : 'false';
  if (t === 'int') return `${Math.trunc(v)}`;
  if (t === 'unsigned') return `${Math.max(0, Math.trunc(v))}u`;
  if (Number.isNaN(v)) return 'VDIT_NAN';
  if (!Number.isFinite(v)) return v > 0 ? 'VDIT_INF' : '(-VDIT_INF)';
  return `${floatLiteral(v)}f`;
}

/**
 * The schedule range of the float timestep `tb`: how many of the descending bounds lie above it, each bound rounded
 * up to f32 (f32Bound) so that the float comparison picks the reference's range, t = f32(bound) included; 0u without
 * bounds.
 */
export function cudaScheduleRow(tb: string, bounds: readonly number[]): string {
  return bounds.map((b) => `(${tb} < ${cudaLiteral(f32Bound(b), 'float')} ? 1u : 0u)`).join(' + ') || '0u';
}

const byType = (f: string, other: string): OpRender => ([a, b], t) =>
  b === undefined ? `${t === 'float' ? f : other}(${a})` : `${t === 'float' ? f : other}(${a}, ${b})`;
const tanh: OpRender = ([a]) => `tanhf(${a})`;

/** The CUDA rows of the shared table: single-precision libm names and integer-safe min/max/abs/div/pow. */
export const CUDA_OPS: OpTable = {
  ...C_STYLE_OPS,
  abs: byType('fabsf', 'abs'),
  exp: ([a]) => `expf(${a})`,
  log: ([a]) => `logf(${a})`,
  sqrt: ([a]) => `sqrtf(${a})`,
  rsqrt: ([a]) => `(1.0f / sqrtf(${a}))`,
  tanh,
  sigmoid: ([a]) => `(1.0f / (1.0f + expf(-${a})))`,
  relu: ([a], t) => (t === 'float' ? `fmaxf(${a}, 0.0f)` : `max(${a}, ${t}(0))`),
  silu: ([a]) => `(${a} / (1.0f + expf(-${a})))`,
  sin: ([a]) => `sinf(${a})`,
  cos: ([a]) => `cosf(${a})`,
  gelu: geluWith(tanh, (x) => `erff(${x})`),
  max: byType('fmaxf', 'max'),
  min: byType('fminf', 'min'),
  pow: ([a, b], t) => (t === 'float' ? `powf(${a}, ${b})` : `${t}(vdit_ipow(int(${a}), int(${b})))`),
  // integer x / 0 is 0 (the reference's rule); C++ would trap or be undefined
  div: ([a, b], t) => (t === 'float' ? `(${a} / ${b})` : `(${b} == ${t}(0) ? ${t}(0) : ${a} / ${b})`),
};

/** float → int by `cast` rules: round half to even, saturating (PTX cvt.rni saturates; NaN → 0). */
export function cudaCast(v: string, from: CudaValue, to: DType): string {
  const t = cudaValueOf(to);
  if (t === 'bool') return from === 'bool' ? v : `(${v} != ${cudaLiteral(0, from)})`;
  if (from === 'bool') return `(${v} ? ${cudaLiteral(1, t)} : ${cudaLiteral(0, t)})`;
  if (t === 'float') return from === 'float' ? v : `float(${v})`;
  const narrow = to === 'u8' ? [0, 255] : undefined;
  if (from === 'float') {
    if (narrow) return `__float2uint_rn(fminf(fmaxf(${v}, 0.0f), 255.0f))`;
    return t === 'int' ? `__float2int_rn(${v})` : `__float2uint_rn(${v})`;
  }
  if (narrow) return from === 'int' ? `unsigned(min(max(${v}, 0), 255))` : `min(${v}, 255u)`;
  if (from === t) return v;
  return t === 'unsigned' ? `unsigned(max(${v}, 0))` : `int(min(${v}, 2147483647u))`;
}

/** A value written into storage of another dtype (float → int truncates, as typed arrays do). */
export function cudaStore(v: string, from: CudaValue, to: DType): string {
  const t = cudaValueOf(to);
  if (from === 'float' && (t === 'int' || t === 'unsigned')) return `${t}(${v})`;
  return t === 'bool' ? `(${cudaCast(v, from, to)} ? 1u : 0u)` : cudaCast(v, from, to);
}
