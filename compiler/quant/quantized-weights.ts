import { params, toposort, type Graph } from '../../ir/graph.ts';
import { quantSettingName, quantSpec, weightDtype, type ActFormat, type WeightBits } from '../../ir/quant.ts';
import { byteSize, numel, tensorType } from '../../ir/types.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { Weights } from '../weights/weights.ts';
import { rtnQuantize, type RtnWeight } from './rtn.ts';
import { layerName, planLinears, type QuantConfig } from './spec.ts';

/**
 * Quantized weights for a graph: `<w>.q` (packed i4 or i8 [N, K]) and `<w>.scale` (f32 [N, 1]) for every weight
 * the config quantizes, by RTN, computed lazily on first request and cached. The graph may be the FP graph (the
 * config picks the layers) or one after insert-qdq (the `dequantize(param <w>.q, param <w>.scale)` pairs name them
 * and their dtype gives the bits). Every other name, the FP originals included, passes through.
 */

export interface QuantizedLayer {
  readonly layer: string;
  /** FP weight param name; the stored tensors are `${weight}.q` and `${weight}.scale` */
  readonly weight: string;
  readonly shape: readonly [number, number];
  readonly wBits: WeightBits;
  /** activation bits when the graph (FP + config) says; undefined for a QDQ graph's weights read alone */
  readonly aBits?: number;
  /** activation format, known with aBits */
  readonly aFormat?: ActFormat;
}

/** The quantized weights of g under config: planned linears of an FP graph plus QDQ weight pairs already in g. */
export function quantizedLayers(g: Graph, config: QuantConfig): QuantizedLayer[] {
  const out = new Map<string, QuantizedLayer>();
  for (const p of planLinears(g, config).quantized) {
    const weight = p.weight.attrs['name'] as string;
    const shape = p.weight.type.shape as [number, number];
    out.set(weight, {
      layer: p.layer, weight, shape, wBits: p.spec.wBits, aBits: p.spec.aBits, aFormat: p.spec.aFormat,
    });
  }
  for (const n of toposort(g)) {
    const [q, s] = [n.src[0], n.src[1]];
    if (n.op !== 'dequantize' || q?.op !== 'param' || s?.op !== 'param') continue;
    const name = q.attrs['name'] as string;
    if (!name.endsWith('.q') || s.attrs['name'] !== `${name.slice(0, -2)}.scale`) continue;
    if (q.type.dtype !== 'i4' && q.type.dtype !== 'i8') continue;
    const weight = name.slice(0, -2);
    const shape = q.type.shape as [number, number];
    const wBits = q.type.dtype === 'i4' ? 4 : 8;
    if (!out.has(weight)) out.set(weight, { layer: layerName(weight), weight, shape, wBits });
  }
  return [...out.values()];
}

/** Quantizes one layer's FP weight (RTN by default; GPTQ plugs in here with its calibration Hessian). */
export type LayerQuantizer = (l: QuantizedLayer, w: Tensor) => RtnWeight;

export function quantizeWeights(
  g: Graph, weights: Weights, config: QuantConfig, quantizer?: LayerQuantizer,
): Weights {
  const layers = new Map<string, QuantizedLayer>();
  for (const l of quantizedLayers(g, config)) {
    layers.set(`${l.weight}.q`, l);
    layers.set(`${l.weight}.scale`, l);
  }
  const cache = new Map<string, RtnWeight>();
  const quantized = (l: QuantizedLayer): RtnWeight => {
    let r = cache.get(l.weight);
    if (!r) cache.set(l.weight, (r = quantizeLayer(l, weights, quantizer)));
    return r;
  };
  return {
    get(name) {
      const l = layers.get(name);
      if (!l) return weights.get(name);
      const r = quantized(l);
      return name.endsWith('.q') ? r.q : r.scale;
    },
    names: () => new Set([...weights.names(), ...layers.keys()]),
  };
}

function quantizeLayer(l: QuantizedLayer, weights: Weights, quantizer?: LayerQuantizer): RtnWeight {
  const w = weights.get(l.weight);
  if (!w) throw new Error(`quantizeWeights: no FP weight '${l.weight}' to quantize for ${l.weight}.q`);
  const [n, k] = l.shape;
  if (w.type.shape.length !== 2 || w.type.shape[0] !== n || w.type.shape[1] !== k) {
    throw new Error(`quantizeWeights: '${l.weight}' is [${w.type.shape.join(',')}], the graph expects [${n},${k}]`);
  }
  return quantizer ? quantizer(l, w) : rtnQuantize(w, l.wBits, l.weight);
}

export interface LayerReport {
  readonly layer: string;
  readonly weight: string;
  readonly shape: readonly [number, number];
  readonly wBits: number;
  readonly aBits: number | null;
  /** 'e4m3' for FP8 activations (w4a8-fp8); null with aBits */
  readonly aFormat: ActFormat | null;
  /** N·K·2 */
  readonly fp16Bytes: number;
  /** packed integer weight (rows padded to whole u32 words for i4) */
  readonly packedBytes: number;
  /** N·4 (f32 per output channel) */
  readonly scaleBytes: number;
  readonly storedBytes: number;
  /** ‖W − Ŵ‖_F / ‖W‖_F of RTN; null when the report was made without weights */
  readonly relError: number | null;
}

export interface QuantReport {
  readonly layers: readonly LayerReport[];
  readonly totals: {
    readonly params: number;
    readonly quantizedParams: number;
    readonly quantizedLayers: number;
    /** every weight at 2 bytes per value */
    readonly fp16Bytes: number;
    /** quantized weights packed + f32 scales, every other param at 2 bytes per value */
    readonly storedBytes: number;
    readonly compressionRatio: number;
    readonly meanRelError: number | null;
    readonly maxRelError: number | null;
  };
}

/**
 * Storage and RTN error of quantizing g's weights under config (JSON-able). Without `weights` only the byte
 * accounting is done, which needs shapes alone (so it works for the large presets).
 */
export function quantizationReport(g: Graph, config: QuantConfig, weights?: Weights): QuantReport {
  const layers = quantizedLayers(g, config).map((l) => layerReport(l, weights));
  const byWeight = new Map(layers.map((l) => [l.weight, l]));
  let [all, fp16, stored, quantizedParams] = [0, 0, 0, 0];
  for (const p of params(g)) {
    const name = p.attrs['name'] as string;
    // a QDQ graph holds <w>.q and <w>.scale, an FP graph <w>: either way the layer is counted once, below
    const base = name.endsWith('.q') ? name.slice(0, -2) : name.endsWith('.scale') ? name.slice(0, -6) : name;
    if (byWeight.has(base)) continue;
    const count = numel(p.type.shape);
    [all, fp16, stored] = [all + count, fp16 + count * 2, stored + count * 2];
  }
  for (const l of layers) {
    const count = l.shape[0] * l.shape[1];
    [all, fp16, stored] = [all + count, fp16 + l.fp16Bytes, stored + l.storedBytes];
    quantizedParams += count;
  }
  const errs = layers.map((l) => l.relError).filter((e): e is number => e !== null);
  const totals = {
    params: all, quantizedParams, quantizedLayers: layers.length, fp16Bytes: fp16, storedBytes: stored,
    compressionRatio: stored ? fp16 / stored : 1,
    meanRelError: errs.length ? errs.reduce((a, b) => a + b, 0) / errs.length : null,
    maxRelError: errs.length ? Math.max(...errs) : null,
  };
  return { layers, totals };
}

function layerReport(l: QuantizedLayer, weights: Weights | undefined): LayerReport {
  const [n, k] = l.shape;
  const packedBytes = byteSize(tensorType(weightDtype(l.wBits), [n, k]));
  const relError = weights ? quantizeLayer(l, weights).relError : null;
  return {
    layer: l.layer, weight: l.weight, shape: [n, k], wBits: l.wBits, aBits: l.aBits ?? null, aFormat: l.aFormat ?? null,
    fp16Bytes: n * k * 2, packedBytes, scaleBytes: n * 4, storedBytes: packedBytes + n * 4, relError,
  };
}

/**
 * A layer's precision as reports print it: the setting name (w4a6, w4a8-fp8 for e4m3 activations), or `w8a-`
 * when only the weight is known (a QDQ graph's weights read alone).
 */
export function layerPrecision(l: Pick<LayerReport, 'wBits' | 'aBits' | 'aFormat'>): string {
  return l.aBits === null ? `w${l.wBits}a-` : quantSettingName(quantSpec(l.wBits, l.aBits, l.aFormat ?? 'int'));
}
