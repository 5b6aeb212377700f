import { cacheKey } from '../../compiler/cache-key.ts';
import { isFloat, isPacked, type DType } from '../../ir/dtype.ts';
import { f32Bound } from '../../ir/infer-tile-select.ts';
import { storageElem, storagePacking, type StorageElem } from '../target.ts';
import { C_STYLE_OPS, floatLiteral, geluWith, type OpTable } from '../c-style.ts';
import type { KernelSpec } from './kernel.ts';
import type { TensorVar } from './tensor-var.ts';

/** How a tensor's elements sit in a storage buffer (the runtime contract, targets/target.ts storageElem). */
export type StorageType = StorageElem;
/** The type a value has inside a shader: every float computes in f32, whatever its storage; bool is a WGSL bool. */
export type ValueType = 'f32' | 'i32' | 'u32' | 'bool';
export type Elem = 'f32' | 'f16';

export function storageOf(dtype: DType, elem: Elem): StorageType {
  if (isPacked(dtype) || storagePacking(dtype) > 1) throw new Error(`wgsl: no kernel for packed dtype ${dtype} here (dequantize first)`);
  return storageElem(dtype, elem);
}

export function valueOf(dtype: DType): ValueType {
  if (isPacked(dtype) || storagePacking(dtype) > 1) throw new Error(`wgsl: no kernel for packed dtype ${dtype} here (dequantize first)`);
  if (isFloat(dtype)) return 'f32';
  if (dtype === 'bool') return 'bool';
  return storageElem(dtype, 'f32') === 'i32' ? 'i32' : 'u32';
}

/** A raw storage element (`x[i]`) as a value. */
export function fromStorage(s: StorageType, v: ValueType, raw: string): string {
  if (s === 'f16') return `f32(${raw})`;
  if (v === 'bool') return `(${raw} != 0u)`;
  return raw;
}

/** A value as a storage element. */
export function toStorage(s: StorageType, v: ValueType, code: string): string {
  if (s === 'f16') return `f16(${code})`;
  if (v === 'bool') return `select(0u, 1u, ${code})`;
  return code;
}

/**
 * A numeric literal of a value type. WGSL has no inf/NaN literals and rejects them in constant expressions, so
 * non-finite floats are bitcasts of module-scope private words (runtime values; see SPECIAL_FLOATS).
 */
export function literal(v: number, t: ValueType): string {
  if (t === 'bool') return v !== 0 ? 'true' : 'false';
  if (t === 'i32') return `i32(${Math.trunc(v)})`;
  if (t === 'u32') return `${Math.max(0, Math.trunc(v))}u`;
  if (Number.isNaN(v)) return 'bitcast<f32>(vdit_nan_bits)';
  if (!Number.isFinite(v)) return v > 0 ? 'bitcast<f32>(vdit_inf_bits)' : '(-bitcast<f32>(vdit_inf_bits))';
  return `f32(${floatLiteral(v)})`;
}

/**
 * The schedule range of the f32 timestep `tb`: how many of the descending bounds lie above it, each bound rounded up
 * to f32 (f32Bound) so that the f32 comparison picks the reference's range, t = f32(bound) included; 0u without bounds.
 */
export function scheduleRowExpr(tb: string, bounds: readonly number[]): string {
  return bounds.map((b) => `select(0u, 1u, ${tb} < ${literal(f32Bound(b), 'f32')})`).join(' + ') || '0u';
}

// drivers may lower tanh through exp, which overflows to NaN for large |x|; tanh(±15) is already ±1 in f32
const TANH_CLAMP = 15;

function wgslTanh([a]: readonly string[], t: string): string {
  return `tanh(clamp(${a}, ${t}(-${TANH_CLAMP}), ${t}(${TANH_CLAMP})))`;
}

/** The WGSL spelling of the shared table: only the entries that differ. */
export const WGSL_OPS: OpTable = {
  ...C_STYLE_OPS,
  rsqrt: ([a]) => `inverseSqrt(${a})`,
  tanh: wgslTanh,
  gelu: geluWith(wgslTanh, (x) => `vdit_erf(${x})`),
  pow: ([a, b], t) => (t === 'f32' ? `vdit_pow(${a}, ${b})` : `${t}(vdit_ipow(i32(${a}), i32(${b})))`),
  // integer x / 0 is 0 (the reference's rule); WGSL would return x
  div: ([a, b], t) => (t === 'f32' ? `(${a} / ${b})` : `select(${a} / ${b}, ${t}(0), ${b} == ${t}(0))`),
  where: ([c, a, b]) => `select(${b}, ${a}, ${c})`,
};

/** Helper functions some table entries call; emitted only when the op appears. */
const HELPER_SRC: Readonly<Record<string, string>> = {
  // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
  vdit_erf: `fn vdit_erf(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    * exp(-x * x);
  return select(-y, y, x >= 0.0);
}`,
  // WGSL pow is undefined for a negative base; follow C: odd integer exponents keep the sign, others give NaN
  vdit_pow: `fn vdit_pow(a: f32, b: f32) -> f32 {
  if (a >= 0.0) { return pow(a, b); }
  if (b != trunc(b)) { return bitcast<f32>(vdit_nan_bits); }
  let m = pow(-a, b);
  return select(m, -m, trunc(b * 0.5) * 2.0 != b);
}`,
  // square-and-multiply with wrapping products; negative exponents truncate toward zero like the reference
  vdit_ipow: `fn vdit_ipow(a: i32, b: i32) -> i32 {
  if (b < 0) { return select(select(0i, select(1i, -1i, (b & 1i) != 0i), a == -1i), 1i, a == 1i); }
  var r = 1i;
  var x = a;
  var e = u32(b);
  while (e != 0u) {
    if ((e & 1u) != 0u) { r *= x; }
    x *= x;
    e >>= 1u;
  }
  return r;
}`,
};
const OP_HELPERS: Readonly<Record<string, readonly string[]>> = { gelu: ['vdit_erf'], pow: ['vdit_pow', 'vdit_ipow'] };

export function opHelpers(ops: Iterable<string>): string[] {
  const names = new Set<string>();
  for (const op of ops) for (const h of OP_HELPERS[op] ?? []) names.add(h);
  return [...names].map((h) => HELPER_SRC[h]!);
}

/** A 1-D workgroup count folded into x/y/z so no dimension exceeds the device limit. */
export function foldGrid(total: number, maxPerDim = 65535): [number, number, number] {
  if (total < 1) return [1, 1, 1];
  const x = Math.min(total, maxPerDim);
  const y = Math.min(Math.ceil(total / x), maxPerDim);
  const z = Math.ceil(total / (x * y));
  if (z > maxPerDim) throw new Error(`wgsl: ${total} workgroups exceed the device grid`);
  return [x, y, z];
}

export interface KernelParts {
  readonly name: string;
  /** everything besides operand dims that shapes the source: attrs, tile sizes, elem */
  readonly hint: string;
  /** operands in binding order, then the result */
  readonly vars: readonly TensorVar[];
  readonly workgroup: readonly [number, number?];
  /** total workgroups; `wg` in the body is the linear workgroup index, already bounds-checked */
  readonly workgroups: number;
  /** module-scope declarations: constants, workgroup arrays, functions */
  readonly prelude?: readonly string[];
  readonly body: readonly string[];
  readonly flops?: number;
  readonly bytes?: number;
  readonly maxPerDim?: number;
}

const ENTRY = 'main';
const SPECIAL_FLOATS = [
  'var<private> vdit_inf_bits: u32 = 0x7f800000u;',
  'var<private> vdit_nan_bits: u32 = 0x7fc00000u;',
];

function typeDeps(v: TensorVar): string {
  return `${v.storage};${v.shape.join(',')}`;
}

/** Attributes as cache-key hint text (the key grammar reserves ']', '|' and ':'). */
export function attrHint(attrs: Readonly<Record<string, unknown>>): string {
  return Object.keys(attrs).sort().map((k) => `${k}=${JSON.stringify(attrs[k])}`).join(',')
    .replace(/\[/g, '(').replace(/\]/g, ')').replace(/\|/g, '/');
}

// 'auto' pipeline layouts drop bindings the shader never touches, and the runtime binds every operand
function keepAlive(vars: readonly TensorVar[], code: string): string[] {
  return vars.filter((v) => !new RegExp(`\\b${v.name}\\[`).test(code)).map((v) => `_ = arrayLength(&${v.name});`);
}

/** Assembles the WGSL module and its program description. */
export function buildKernel(p: KernelParts): KernelSpec {
  const f16 = p.vars.some((v) => v.storage === 'f16');
  const [wx, wy = 1] = p.workgroup;
  const decls = p.vars.map((v, i) => v.declare(i, i === p.vars.length - 1 ? 'read_write' : 'read'));
  const helpers = p.vars.flatMap((v) => v.helpers());
  const source = [
    ...(f16 ? ['enable f16;', ''] : []),
    ...decls,
    '',
    `const WORKGROUPS: u32 = ${p.workgroups}u;`,
    ...SPECIAL_FLOATS,
    ...(p.prelude ?? []),
    ...helpers,
    '',
    `@compute @workgroup_size(${wx}, ${wy}, 1)`,
    `fn ${ENTRY}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,`,
    `        @builtin(local_invocation_index) lidx: u32, @builtin(local_invocation_id) lid: vec3<u32>) {`,
    '  let wg = wid.x + (wid.y + wid.z * nwg.y) * nwg.x;',
    '  if (wg >= WORKGROUPS) { return; }',
    ...[...keepAlive(p.vars, [...(p.prelude ?? []), ...helpers, ...p.body].join('\n')), ...p.body].map((l) => `  ${l}`),
    '}',
    '',
  ].join('\n');
  const key = cacheKey({ name: p.name, hint: p.hint, workgroup: [wx, wy, 1], inputs: p.vars.map(typeDeps) });
  return {
    name: p.name,
    key,
    source,
    entry: ENTRY,
    dispatch: foldGrid(p.workgroups, p.maxPerDim),
    features: f16 ? ['shader-f16'] : [],
    ...(p.flops !== undefined ? { flops: p.flops } : {}),
    ...(p.bytes !== undefined ? { bytes: p.bytes } : {}),
  };
}
