// Full-reference fidelity of clips in [-1, 1] space, layout [frames, height, width, 3].
// PSNR: peak-to-peak 2 (the 0..255 range), over all values.
// SSIM: Wang et al. 2004 on BT.601 luminance on the 0..255 scale, Gaussian 11x11 window with sigma 1.5, "valid"
// windows only (no padding; 22x22 per 32x32 frame), C1 = (0.01*255)^2, C2 = (0.03*255)^2, averaged over all
// windows of all frames.

import { geometryOf } from './detect.ts';

const PEAK = 2;
const WIN = 11;
const SIGMA = 1.5;
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

function checkPair(a: Float32Array, b: Float32Array, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: clips differ in length (${a.length} vs ${b.length})`);
  if (a.length === 0) throw new Error(`${what}: empty clips`);
}

/** PSNR in dB for values in [-1, 1] (peak-to-peak 2); Infinity for identical inputs. */
export function psnr(a: Float32Array, b: Float32Array): number {
  checkPair(a, b, 'psnr');
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    se += d * d;
  }
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((PEAK * PEAK) / mse);
}

const KERNEL: Float64Array = (() => {
  const k = new Float64Array(WIN);
  let sum = 0;
  for (let i = 0; i < WIN; i++) {
    const d = i - (WIN - 1) / 2;
    k[i] = Math.exp(-(d * d) / (2 * SIGMA * SIGMA));
    sum += k[i]!;
  }
  return k.map((v) => v / sum);
})();

// Separable valid-mode Gaussian filter of an h x w plane.
function blur(src: Float64Array, h: number, w: number): Float64Array {
  const ow = w - WIN + 1;
  const oh = h - WIN + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < WIN; k++) s += KERNEL[k]! * src[y * w + x + k]!;
      rows[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < WIN; k++) s += KERNEL[k]! * rows[(y + k) * ow + x]!;
      out[y * ow + x] = s;
    }
  }
  return out;
}

function luma(clip: Float32Array, frame: number, hw: number): Float64Array {
  const out = new Float64Array(hw);
  for (let p = 0; p < hw; p++) {
    const i = 3 * (frame * hw + p);
    out[p] = (0.299 * (clip[i]! + 1) + 0.587 * (clip[i + 1]! + 1) + 0.114 * (clip[i + 2]! + 1)) * 127.5;
  }
  return out;
}

function frameSsim(x: Float64Array, y: Float64Array, h: number, w: number): number {
  const xx = x.map((v) => v * v);
  const yy = y.map((v) => v * v);
  const xy = x.map((v, i) => v * y[i]!);
  const [mx, my, sxx, syy, sxy] = [x, y, xx, yy, xy].map((p) => blur(p, h, w)) as [
    Float64Array, Float64Array, Float64Array, Float64Array, Float64Array,
  ];
  let sum = 0;
  for (let i = 0; i < mx.length; i++) {
    const a = mx[i]!;
    const b = my[i]!;
    const va = sxx[i]! - a * a;
    const vb = syy[i]! - b * b;
    const cov = sxy[i]! - a * b;
    sum += ((2 * a * b + C1) * (2 * cov + C2)) / ((a * a + b * b + C1) * (va + vb + C2));
  }
  return sum / mx.length;
}

/** Mean SSIM over frames (see header); frames need height and width of at least 11. */
export function ssim(a: Float32Array, b: Float32Array, height = 32, width = 32): number {
  checkPair(a, b, 'ssim');
  if (height < WIN || width < WIN) {
    throw new Error(`ssim: frames of ${height}x${width} are smaller than the ${WIN}x${WIN} window`);
  }
  const { frames } = geometryOf(a.length, height, width);
  const hw = height * width;
  let sum = 0;
  for (let t = 0; t < frames; t++) sum += frameSsim(luma(a, t, hw), luma(b, t, hw), height, width);
  return sum / frames;
}
