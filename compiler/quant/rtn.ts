import { formatType, tensorType } from '../../ir/types.ts';
import { quantizeRows, weightDtype, type WeightBits } from '../../ir/quant.ts';
import { packNibbles, unpackNibbles } from '../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';

/**
 * Round-to-nearest (RTN) weight quantization per output channel: the baseline the lineage's GPTQ refines, and what
 * deploys when no calibration ran. W is [N, K] (nn.Linear layout, out × in).
 */

export interface RtnWeight {
  /** `<w>.q`: packed i4 [N, K] (Uint32Array, row-major [N, ceil(K/8)] words) or i8 [N, K] (Int8Array) */
  readonly q: Tensor;
  /** `<w>.scale`: f32 [N, 1] */
  readonly scale: Tensor;
  /** ‖W − Ŵ‖_F / ‖W‖_F with Ŵ = q·Δ in f32 (0 for an all-zero W) */
  readonly relError: number;
}

export function rtnQuantize(w: Tensor, bits: WeightBits, name = 'weight'): RtnWeight {
  const { shape } = w.type;
  if (shape.length !== 2) {
    throw new Error(`rtnQuantize(${name}): expects a 2-D weight [N, K], got ${formatType(w.type)}`);
  }
  if (!(w.data instanceof Float32Array)) {
    throw new Error(`rtnQuantize(${name}): expects a float weight, got ${formatType(w.type)}`);
  }
  const [n, k] = shape as [number, number];
  let rows;
  try {
    rows = quantizeRows(w.data, n, k, bits);
  } catch (e) {
    throw new Error(`rtnQuantize(${name}): ${(e as Error).message}`);
  }
  const dtype = weightDtype(bits);
  const q = tensor(tensorType(dtype, [n, k]), dtype === 'i4' ? packNibbles(rows.q, [n, k]) : rows.q);
  const scale = tensor(tensorType('f32', [n, 1]), rows.scale);
  return { q, scale, relError: relErrorOf(w.data, rows.q, rows.scale, k) };
}

export function relErrorOf(w: Float32Array, q: Int8Array, scale: Float32Array, k: number): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < w.length; i++) {
    const d = w[i]! - Math.fround(q[i]! * scale[Math.floor(i / k)]!);
    err += d * d;
    ref += w[i]! * w[i]!;
  }
  return ref === 0 ? 0 : Math.sqrt(err / ref);
}

/** Ŵ = q·Δ as f32 [N, K] from an RtnWeight's tensors (unpacks i4): what the simulated QDQ graph multiplies by. */
export function dequantizeWeight(q: Tensor, scale: Tensor): Float32Array {
  const [n, k] = q.type.shape as [number, number];
  const vals = q.type.dtype === 'i4' ? unpackNibbles(q.data as Uint32Array, [n, k], true) : (q.data as Int8Array);
  const out = new Float32Array(n * k);
  for (let i = 0; i < out.length; i++) out[i] = vals[i]! * scale.data[Math.floor(i / k)]!;
  return out;
}
