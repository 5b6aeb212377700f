import { describe, expect, it } from 'vitest';
import { gptqQuantize } from '../../../compiler/quant/gptq.ts';
import { choleskyLower, choleskyUpper, invertSpd } from '../../../compiler/quant/linalg.ts';
import { dequantizeWeight, rtnQuantize } from '../../../compiler/quant/rtn.ts';
import { tensorType } from '../../../ir/types.ts';
import { unpackNibbles } from '../../../runtime/reference-pack.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';

/** Deterministic normal-ish samples (sum of uniforms from a seeded LCG). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  const u = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return () => u() + u() + u() + u() - 2;
}

/** X [rows, K] with strongly correlated channels: X = Z·A, A mixing each channel with its neighbours. */
function correlatedInputs(rows: number, k: number, seed: number): Float64Array {
  const r = rng(seed);
  const z = Float64Array.from({ length: rows * k }, r);
  const x = new Float64Array(rows * k);
  const scale = Float64Array.from({ length: k }, () => Math.exp(r()));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < k; j++) {
      let v = 0;
      for (let d = -3; d <= 3; d++) v += z[i * k + ((j + d + k) % k)]! / (1 + Math.abs(d));
      x[i * k + j] = v * scale[j]!;
    }
  }
  return x;
}

function gram(x: Float64Array, rows: number, k: number): Float64Array {
  const h = new Float64Array(k * k);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j]! += x[r * k + i]! * x[r * k + j]!;
  }
  return h;
}

/** ‖X·(W − Ŵ)ᵀ‖_F */
function outputError(x: Float64Array, rows: number, w: Float32Array, wq: Float32Array, n: number, k: number): number {
  let e = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      let d = 0;
      for (let j = 0; j < k; j++) d += x[r * k + j]! * (w[c * k + j]! - wq[c * k + j]!);
      e += d * d;
    }
  }
  return Math.sqrt(e);
}

const [N, K, ROWS] = [24, 160, 400];
const r = rng(11);
const w: Tensor = tensor(tensorType('f32', [N, K]), Float32Array.from({ length: N * K }, () => r() * 0.1));
const x = correlatedInputs(ROWS, K, 5);
const h = gram(x, ROWS, K);

describe('linalg', () => {
  it('Cholesky factors reconstruct and the SPD inverse inverts (≤ 1e-9 relative)', () => {
    const k = 12;
    const a = gram(correlatedInputs(40, k, 3), 40, k);
    const l = choleskyLower(a, k);
    const inv = invertSpd(a, k);
    const u = choleskyUpper(a, k);
    let [recon, ident, upper] = [0, 0, 0];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        let [s, t, v] = [0, 0, 0];
        for (let p = 0; p < k; p++) {
          s += l[i * k + p]! * l[j * k + p]!;
          t += a[i * k + p]! * inv[p * k + j]!;
          v += u[p * k + i]! * u[p * k + j]!;
        }
        recon = Math.max(recon, Math.abs(s - a[i * k + j]!) / a[i * k + i]!);
        ident = Math.max(ident, Math.abs(t - (i === j ? 1 : 0)));
        upper = Math.max(upper, Math.abs(v - a[i * k + j]!) / a[i * k + i]!);
      }
    }
    expect(recon).toBeLessThan(1e-9);
    expect(ident).toBeLessThan(1e-6);
    expect(upper).toBeLessThan(1e-9);
  });

  it('rejects a matrix that is not positive definite', () => {
    expect(() => choleskyLower(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/not positive definite \(pivot 1/);
  });
});

describe('gptqQuantize', () => {
  for (const bits of [4, 8] as const) {
    it(`w${bits}: output error on correlated inputs is below RTN's (natural and act-order)`, () => {
      const rq = rtnQuantize(w, bits);
      const rtn = dequantizeWeight(rq.q, rq.scale);
      const eRtn = outputError(x, ROWS, w.data as Float32Array, rtn, N, K);
      for (const actOrder of [false, true]) {
        const g = gptqQuantize(w, h, bits, { actOrder, blockSize: 64 });
        const eG = outputError(x, ROWS, w.data as Float32Array, dequantizeWeight(g.q, g.scale), N, K);
        console.log(`w${bits} actOrder=${actOrder}: GPTQ ${eG.toFixed(4)} vs RTN ${eRtn.toFixed(4)}`);
        expect(eG).toBeLessThan(0.9 * eRtn);
      }
    });
  }

  it('packs like RTN: i4 codes in [−8, 7], RTN\'s per-channel scales, relError of the packed values', () => {
    const g = gptqQuantize(w, h, 4);
    const rtn = rtnQuantize(w, 4);
    expect(g.q.type).toEqual(rtn.q.type);
    expect(g.scale.data).toEqual(rtn.scale.data);
    const codes = unpackNibbles(g.q.data as Uint32Array, [N, K], true);
    expect(Math.min(...codes)).toBeGreaterThanOrEqual(-8);
    expect(Math.max(...codes)).toBeLessThanOrEqual(7);
    const deq = dequantizeWeight(g.q, g.scale);
    let [e, ref] = [0, 0];
    for (let i = 0; i < N * K; i++) {
      expect(deq[i]).toBe(Math.fround(codes[i]! * g.scale.data[Math.floor(i / K)]!));
      [e, ref] = [e + (w.data[i]! - deq[i]!) ** 2, ref + w.data[i]! ** 2];
    }
    expect(g.relError).toBeCloseTo(Math.sqrt(e / ref), 6);
    // GPTQ trades weight error for output error: it differs from RTN somewhere
    expect(codes.some((c, i) => c !== unpackNibbles(rtn.q.data as Uint32Array, [N, K], true)[i])).toBe(true);
  });

  it('dead inputs (H_jj = 0) quantize to 0 and bad shapes are rejected', () => {
    const hd = Float64Array.from(h);
    for (let j = 0; j < K; j++) [hd[3 * K + j], hd[j * K + 3]] = [0, 0];
    const codes = unpackNibbles(gptqQuantize(w, hd, 4).q.data as Uint32Array, [N, K], true);
    for (let c = 0; c < N; c++) expect(codes[c * K + 3]).toBe(0);
    expect(() => gptqQuantize(w, new Float64Array(9), 4, {}, 'l'))
      .toThrow(/gptqQuantize\(l\): Hessian has 9 values, expected 160×160/);
  });
});
