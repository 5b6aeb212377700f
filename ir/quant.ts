/**
 * Quantization specs and the symmetric quantizer of PAPER.md §2:
 *   x_int = clamp(round(x/Δ), −2^(N−1), 2^(N−1)−1),  Δ = max|x| / (2^(N−1)−1)
 * Weights: per output channel (row c of W[N, K]), computed offline. Activations: per token (row of X[..., K]),
 * computed online (dynamic). Rounding is half-to-even everywhere, as the `quantize` op defines it, so offline
 * weights and online activations share one rounding rule.
 */
import { E4M3_MAX } from './fp8.ts';

export type WeightBits = 4 | 8;
export type ActBits = 4 | 6 | 8;
/**
 * How activation values are coded: 'int' = the integer grid above; 'e4m3' = FP8 (ir/fp8.ts) with Δ = max|x| / 448,
 * values rounded to the nearest e4m3 and stored as bytes like i8 (aBits 8, int4 weights: exact in e4m3).
 */
export type ActFormat = 'int' | 'e4m3';
export const ACT_FORMATS: readonly ActFormat[] = ['int', 'e4m3'];

/** How one linear is quantized: its weight per output channel, its input activation per token, both symmetric. */
export interface QuantSpec {
  readonly wBits: WeightBits;
  readonly aBits: ActBits;
  readonly aFormat: ActFormat;
  readonly granularity: { readonly weight: 'channel'; readonly activation: 'token' };
  readonly symmetric: true;
  readonly dynamic: true;
}

const W_BITS: readonly number[] = [4, 8];
const A_BITS: readonly number[] = [4, 6, 8];

export function isWeightBits(b: unknown): b is WeightBits {
  return typeof b === 'number' && W_BITS.includes(b);
}

export function isActBits(b: unknown): b is ActBits {
  return typeof b === 'number' && A_BITS.includes(b);
}

export function quantSpec(wBits: number, aBits: number, aFormat: ActFormat = 'int'): QuantSpec {
  if (!isWeightBits(wBits)) throw new Error(`quant spec: weight bits must be 4 or 8, got ${wBits}`);
  if (!isActBits(aBits)) throw new Error(`quant spec: activation bits must be 4, 6 or 8, got ${aBits}`);
  if (!ACT_FORMATS.includes(aFormat)) throw new Error(`quant spec: activation format must be int or e4m3, got ${aFormat}`);
  if (aFormat === 'e4m3' && (aBits !== 8 || wBits !== 4)) {
    throw new Error(`quant spec: FP8 (e4m3) activations are 8 bits over int4 weights (w4a8-fp8), got w${wBits}a${aBits}`);
  }
  return Object.freeze({
    wBits, aBits, aFormat, symmetric: true, dynamic: true,
    granularity: Object.freeze({ weight: 'channel', activation: 'token' }),
  } as const);
}

/**
 * The settings the lineage reports (W4A6, W4A4) plus W8A8 and W4A8, the kernel's native precisions, and W4A8-FP8
 * (per-token e4m3 activations for FP8 tensor cores).
 */
export const QUANT_SETTINGS: Readonly<Record<string, QuantSpec>> = Object.freeze({
  w8a8: quantSpec(8, 8),
  w4a8: quantSpec(4, 8),
  w4a6: quantSpec(4, 6),
  w4a4: quantSpec(4, 4),
  'w4a8-fp8': quantSpec(4, 8, 'e4m3'),
});

/** 'w4a6' / 'W4A6' → its spec; any wXaY with X ∈ {4, 8} and Y ∈ {4, 6, 8} is accepted, and w4a8-fp8. */
export function parseQuantSetting(text: string): QuantSpec {
  const m = /^w(\d+)a(\d+)(-fp8)?$/i.exec(text.trim());
  if (!m) {
    const known = Object.keys(QUANT_SETTINGS).join(', ');
    throw new Error(`quant setting '${text}' is not of the form wXaY or wXaY-fp8 (known: ${known})`);
  }
  return quantSpec(Number(m[1]), Number(m[2]), m[3] ? 'e4m3' : 'int');
}

export function quantSettingName(s: QuantSpec): string {
  return `w${s.wBits}a${s.aBits}${s.aFormat === 'e4m3' ? '-fp8' : ''}`;
}

/** An op's activation format attribute (`format` on token_scale / quantize / dequantize, `aformat` on qgemm). */
export function actFormatOf(attrs: Readonly<Record<string, unknown>>, name = 'format'): ActFormat {
  const f = attrs[name] ?? 'int';
  if (f !== 'int' && f !== 'e4m3') throw new Error(`attribute ${name} must be "int" or "e4m3", got ${JSON.stringify(f)}`);
  return f;
}

/** Largest magnitude of the symmetric grid: 2^(bits−1) − 1 (7 for 4 bits, 31 for 6, 127 for 8). */
export function qmax(bits: number): number {
  return 2 ** (bits - 1) - 1;
}

/**
 * token_scale's divisor: Δ = max_k |x| / divisor with divisor = f32(qmax / clip), qmax = 448 for e4m3. `clip` in (0, 1] is a learned
 * activation clipping ratio (LAC, S²Q-VDiT §4.1 / FlatQuant): Δ shrinks to clip·max/qmax and the largest values
 * saturate. Absent, the divisor is qmax itself. One division in every backend keeps them bit-identical.
 */
export function tokenScaleDivisor(bits: number, clip?: number, format: ActFormat = 'int'): number {
  const top = format === 'e4m3' ? E4M3_MAX : qmax(bits);
  if (clip === undefined) return top;
  if (!(clip > 0 && clip <= 1)) throw new Error(`token_scale: clip must be in (0, 1], got ${clip}`);
  return Math.fround(top / clip);
}

/** Inclusive range [−2^(bits−1), 2^(bits−1) − 1]; symmetric scales only reach −qmax, the clamp allows one more. */
export function qrange(bits: number): [number, number] {
  return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

/** Storage dtype of quantized weights: packed i4 (8 per u32) or plain i8. */
export function weightDtype(bits: WeightBits): 'i4' | 'i8' {
  return bits === 4 ? 'i4' : 'i8';
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; a tie landing on an odd integer goes back down to the even one
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** clamp(round_half_even(v), lo, hi); NaN maps to 0 (a defined value where hardware conversions differ). */
export function quantizeValue(v: number, bits: number): number {
  if (Number.isNaN(v)) return 0;
  const [lo, hi] = qrange(bits);
  return Math.min(hi, Math.max(lo, roundHalfEven(v)));
}

/** Symmetric scale of one row: max|x| / qmax in f32; an all-zero row gets Δ = 1 so that x / Δ stays defined. */
export function rowScale(x: ArrayLike<number>, off: number, len: number, bits: number): number {
  let m = 0;
  for (let i = 0; i < len; i++) m = Math.max(m, Math.abs(x[off + i]!));
  return m === 0 ? 1 : Math.fround(m / qmax(bits));
}

export interface QuantizedRows {
  /** integer values, row-major [rows, cols], in qrange(bits) */
  readonly q: Int8Array;
  /** one f32 scale per row */
  readonly scale: Float32Array;
}

/**
 * RTN per row (= per output channel of W[N, K]): Δ_c = max_k |W_ck| / qmax, q = clamp(round(f32(W / Δ_c))).
 * The quotient is rounded to f32 first, as the online `quantize` op computes it.
 */
export function quantizeRows(w: ArrayLike<number>, rows: number, cols: number, bits: number): QuantizedRows {
  if (w.length !== rows * cols) throw new Error(`quantizeRows: ${w.length} values do not make [${rows}, ${cols}]`);
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    for (let k = 0; k < cols; k++) {
      if (!Number.isFinite(w[off + k]!)) throw new Error(`quantizeRows: row ${r}, column ${k} is ${w[off + k]}`);
    }
    const d = rowScale(w, off, cols, bits);
    scale[r] = d;
    for (let k = 0; k < cols; k++) q[off + k] = quantizeValue(Math.fround(w[off + k]! / d), bits);
  }
  return { q, scale };
}
