import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../../../compiler/model/dit.ts';
import { blockGraph } from '../../../../compiler/quant/s2q/block-graph.ts';
import { distillBlock } from '../../../../compiler/quant/s2q/distill.ts';
import { activationHat, quantizedBlock } from '../../../../compiler/quant/s2q/distill-graph.ts';
import { cpuExec } from '../../../../compiler/quant/s2q/exec.ts';
import { profileConfig } from '../../../../compiler/quant/spec.ts';
import { seededWeights } from '../../../../compiler/weights/init.ts';
import { decodeE4m3, encodeE4m3 } from '../../../../ir/fp8.ts';
import { graph, node, toposort, type Node } from '../../../../ir/index.ts';
import { tensorType } from '../../../../ir/types.ts';
import { qdqActivation } from '../../../../passes/insert-qdq.ts';
import { gaussianNoise } from '../../../../runtime/noise.ts';
import { runReference } from '../../../../runtime/reference.ts';
import { tensor, type Tensor } from '../../../../runtime/tensor.ts';
import { narrowTinySmallClip } from '../../model/narrow-tiny.ts';
import { weightsOf } from '../../../passes/autodiff/grad-check.ts';

const [ROWS, K] = [12, 64];
// per-token magnitudes over three decades: e4m3's relative grid and int8's uniform one part ways on small values
const X = Float32Array.from(gaussianNoise(ROWS * K, 91), (v, i) => v * 10 ** (Math.floor(i / K) % 4 - 2));
const xIn = node('input', [], { name: 'x' }, tensorType('f32', [ROWS, K]));
const clipIn = node('input', [], { name: 'clip' }, tensorType('f32', [1]));
const CLIP = Math.fround(0.9);
const inputs: Record<string, Tensor> = {
  x: tensor(xIn.type, X), clip: tensor(clipIn.type, Float32Array.from([CLIP])),
};

function evalOut(out: Node): Float32Array {
  const leaves = [xIn, clipIn].filter((l) => toposort(graph('g', [xIn, clipIn], [out])).includes(l));
  return runReference(graph('g', leaves, [out]), inputs, weightsOf({}))[0]!.data as Float32Array;
}

/** e4m3 QDQ by hand (ir/fp8.ts): Δ = f32(max|x| / 448)·clip, x̂ = value(code(f32(x / Δ)))·Δ, all in f32. */
function e4m3Qdq(clip?: number): Float32Array {
  const out = new Float32Array(X.length);
  for (let r = 0; r < ROWS; r++) {
    const row = X.subarray(r * K, (r + 1) * K);
    let d = Math.fround(Math.max(...Array.from(row, Math.abs)) / 448);
    if (clip !== undefined) d = Math.fround(d * clip);
    row.forEach((v, j) => { out[r * K + j] = Math.fround(decodeE4m3(encodeE4m3(Math.fround(v / d))) * d); });
  }
  return out;
}

describe('S²Q distillation graph: activations fake-quantized in the spec\'s format', () => {
  it('x̂ of an e4m3 group is the reference\'s e4m3 quantize-dequantize, and not the int8 one', () => {
    const fp8 = evalOut(activationHat(xIn, { aBits: 8, aFormat: 'e4m3' }));
    expect(Array.from(fp8)).toEqual(Array.from(e4m3Qdq()));
    // the deployed model's Q/DQ (insert-qdq) on the CPU reference: bit for bit the same
    expect(Array.from(fp8)).toEqual(Array.from(evalOut(qdqActivation(xIn, 8, 'e4m3'))));
    const clipped = evalOut(activationHat(xIn, { aBits: 8, aFormat: 'e4m3' }, clipIn));
    expect(Array.from(clipped)).toEqual(Array.from(e4m3Qdq(CLIP)));
    const int8 = evalOut(activationHat(xIn, { aBits: 8, aFormat: 'int' }));
    expect(Array.from(int8)).toEqual(Array.from(evalOut(qdqActivation(xIn, 8, 'int'))));
    const differ = fp8.filter((v, i) => v !== int8[i]).length;
    expect(differ).toBeGreaterThan(X.length / 2);
    // FP8 keeps relative precision: its error on the smallest values (1/100 of the row max) beats int8's
    const err = (y: Float32Array): number => y.reduce((s, v, i) => s + Math.abs(v - X[i]!) / Math.abs(X[i]!), 0);
    expect(err(fp8)).toBeLessThan(err(int8));
  });

  const cfg = narrowTinySmallClip(2);
  const activationQuantizes = (q: Node): Node[] =>
    toposort(graph('q', [], [q])).filter((n) => n.op === 'quantize' && n.src[1]!.op !== 'div');

  it('w4a8-fp8: every group (adaLN row group included) distills against e4m3; w4a8 against the integer grid', () => {
    for (const [setting, format] of [['w4a8-fp8', 'e4m3'], ['w4a8', 'int']] as const) {
      const bg = blockGraph(cfg, 0, profileConfig('deploy', setting));
      expect(bg.groups.map((g) => [g.kind, g.aBits, g.aFormat])).toEqual([
        ['row', 8, format], ...Array.from({ length: 4 }, () => ['kron', 8, format]),
      ]);
      const { q } = quantizedBlock(bg);
      const acts = activationQuantizes(q);
      expect(acts).toHaveLength(bg.groups.length);
      for (const n of acts) expect(n.attrs['format'] ?? 'int').toBe(format);
      // weights stay int4 on the integer grid (their Δ is clip·max / qmax, a div)
      const wq = toposort(graph('q', [], [q])).filter((n) => n.op === 'quantize' && n.src[1]!.op === 'div');
      expect(wq).toHaveLength(bg.groups.reduce((s, g) => s + g.linears.length, 0));
      for (const n of wq) expect([n.attrs['bits'], n.attrs['format']]).toEqual([4, undefined]);
    }
  });

  it('the e4m3 train graph runs on the CPU reference: its loss differs from int8\'s, the clips learn', async () => {
    const weights = seededWeights(buildDiT(cfg), 7);
    const losses: number[] = [];
    for (const setting of ['w4a8-fp8', 'w4a8']) {
      const bg = blockGraph(cfg, 1, profileConfig('deploy', setting));
      const [, n, d] = bg.graph.inputs[0]!.type.shape as [number, number, number];
      const records = [{ id: 0, t: 0.3, y: 1 }, { id: 1, t: 0.7, y: 5 }];
      const data = records.map((r) => gaussianNoise(n * d, 500 + r.id).map((v) => 4 * v));
      const src = { records, input: (id: number) => data[id]! };
      const res = await distillBlock(bg, weights, src, cpuExec(weights), { epochs: 2 });
      expect(res.steps).toBe(2);
      expect(Number.isFinite(res.firstLoss) && res.firstLoss! > 0).toBe(true);
      // σ(4) at the start: two AdamW steps on finite gradients move every activation clip
      const sigma4 = 1 / (1 + Math.exp(-4));
      const moved = res.groups.flatMap((g) => (g.clip === undefined ? [] : [Math.abs(g.clip - sigma4)]));
      expect(moved).toHaveLength(4);
      for (const m of moved) expect(m).toBeGreaterThan(1e-5);
      losses.push(res.firstLoss!);
    }
    expect(losses[0]).not.toBe(losses[1]);
  }, 120_000);
});
