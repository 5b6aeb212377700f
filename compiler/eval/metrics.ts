// Analytic quality metrics of one moving-shapes clip against its class, from the frames alone.
// Definitions and thresholds: docs/metrics.md. Detection: ./detect.ts. Reference metrics: ./fidelity.ts.

import { DIRECTION_STEP, PALETTE, classParts } from '../data/classes.ts';
import { CLIP_LEN } from '../data/moving-shapes.ts';
import { detectClip, type ClipDetection, type FrameDetection } from './detect.ts';

export { psnr, ssim } from './fidelity.ts';

export interface ClipScores {
  readonly colour: 0 | 1;
  readonly shape: 0 | 1;
  readonly direction: 0 | 1;
  /** trajectory linearity in [0, 1] */
  readonly smoothness: number;
  /** size and colour constancy in [0, 1] */
  readonly consistency: number;
  /** fraction of background pixels that are dark and smooth, in [0, 1] */
  readonly background: number;
}

export interface AggregateScores {
  /** all in percent */
  readonly colourAcc: number;
  readonly shapeAcc: number;
  readonly directionAcc: number;
  readonly smoothness: number;
  readonly consistency: number;
  readonly background: number;
}

// Generated frames are only trusted when at least half of them show a shape.
const MIN_DETECTED = 0.5;
// The generator guarantees 6 steps before the first bounce; direction uses frames 0..5.
const DIRECTION_FRAMES = 6;
const MIN_SPEED = 0.3;
// Second differences: the 2 largest are dropped (at most 2 bounces in 16 frames). Hard-edged rasterisation makes
// the centroid jitter: the trimmed mean residual of ground truth reaches 0.93 px (384 clips), so residual up to
// 1 px is free and it costs 1/3 per px above that.
const BOUNCES = 2;
const SMOOTH_FREE = 1;
const SMOOTH_SCALE = 3;
const COLOUR_SCALE = 64;
const DARK_MAX = 80;
const HF_MAX = 10;
const BG_MIN_FRAC = 0.5;

const clip01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export function scoreClip(clip: Float32Array, cls: number): ClipScores {
  if (clip.length !== CLIP_LEN) {
    throw new Error(`scoreClip expects a [16,32,32,3] clip of ${CLIP_LEN} values, got ${clip.length}`);
  }
  const want = classParts(cls);
  const det = detectClip(clip);
  const found = det.frames.filter((f): f is FrameDetection => f !== null);
  const detFrac = found.length / det.frames.length;
  const trusted = detFrac >= MIN_DETECTED;
  return {
    colour: trusted && nearestColour(found) === want.colour ? 1 : 0,
    shape: trusted && majorityShape(found) === want.shape ? 1 : 0,
    direction: trusted && directionOf(det.frames) === want.direction ? 1 : 0,
    smoothness: smoothness(det.frames),
    consistency: consistency(found, det.frames.length),
    background: background(det),
  };
}

function nearestColour(found: readonly FrameDetection[]): number {
  const mean = [0, 0, 0];
  let n = 0;
  for (const f of found) {
    for (let c = 0; c < 3; c++) mean[c]! += f.rgb[c]! * f.area;
    n += f.area;
  }
  let best = -1;
  let bestD = Infinity;
  PALETTE.forEach((p, i) => {
    const d = p.reduce((s, v, c) => s + (v - mean[c]! / n) ** 2, 0);
    if (d < bestD) [best, bestD] = [i, d];
  });
  return best;
}

function majorityShape(found: readonly FrameDetection[]): number {
  const votes = [0, 0, 0];
  for (const f of found) votes[f.shape]!++;
  return votes.indexOf(Math.max(...votes));
}

// Least-squares velocity of the centroid over the first frames; the dominant axis and sign name the direction.
function directionOf(frames: readonly (FrameDetection | null)[]): number {
  const pts = frames.slice(0, DIRECTION_FRAMES).flatMap((f, t) => (f ? [{ t, x: f.cx, y: f.cy }] : []));
  if (pts.length < 3) return -1;
  const mt = pts.reduce((s, p) => s + p.t, 0) / pts.length;
  const mx = pts.reduce((s, p) => s + p.x, 0) / pts.length;
  const my = pts.reduce((s, p) => s + p.y, 0) / pts.length;
  let stt = 0, stx = 0, sty = 0;
  for (const p of pts) {
    stt += (p.t - mt) ** 2;
    stx += (p.t - mt) * (p.x - mx);
    sty += (p.t - mt) * (p.y - my);
  }
  const vx = stx / stt;
  const vy = sty / stt;
  if (Math.hypot(vx, vy) < MIN_SPEED) return -1;
  const step = Math.abs(vx) >= Math.abs(vy) ? [Math.sign(vx), 0] : [0, Math.sign(vy)];
  return DIRECTION_STEP.findIndex(([sx, sy]) => sx === step[0] && sy === step[1]);
}

// 1 - max(0, r - 1 px) / 3 px, r = trimmed mean |second difference| of the centroid, weighted by the share of
// usable triples.
function smoothness(frames: readonly (FrameDetection | null)[]): number {
  const acc: number[] = [];
  for (let t = 1; t + 1 < frames.length; t++) {
    const [a, b, c] = [frames[t - 1], frames[t], frames[t + 1]];
    if (a && b && c) acc.push(Math.hypot(a.cx - 2 * b.cx + c.cx, a.cy - 2 * b.cy + c.cy));
  }
  const triples = frames.length - 2;
  const kept = acc.sort((p, q) => p - q).slice(0, Math.max(acc.length - BOUNCES, 0));
  if (kept.length === 0) return 0;
  const residual = kept.reduce((s, v) => s + v, 0) / kept.length;
  return clip01(1 - Math.max(0, residual - SMOOTH_FREE) / SMOOTH_SCALE) * (acc.length / triples);
}

// (1 - CV of linear size) * (1 - mean colour drift / 64), weighted by the detected share of frames.
function consistency(found: readonly FrameDetection[], frames: number): number {
  if (found.length < 2) return 0;
  const sizes = found.map((f) => Math.sqrt(f.area));
  const ms = sizes.reduce((s, v) => s + v, 0) / sizes.length;
  const cv = Math.sqrt(sizes.reduce((s, v) => s + (v - ms) ** 2, 0) / sizes.length) / ms;
  const mc = [0, 1, 2].map((c) => found.reduce((s, f) => s + f.rgb[c]!, 0) / found.length);
  const drift = found.reduce((s, f) => s + Math.hypot(...f.rgb.map((v, c) => v - mc[c]!)), 0) / found.length;
  return clip01(1 - cv) * clip01(1 - drift / COLOUR_SCALE) * (found.length / frames);
}

// Background = pixels not within 1 px (4-neighbourhood) of any vivid pixel. Clean = every channel <= 80 and within
// 10 of its 4-neighbour mean. The denominator is at least half the pixels, so a clip that is mostly "foreground"
// cannot score a clean background.
function background(det: ClipDetection): number {
  const { frames, height: h, width: w } = det.geometry;
  const { vivid, rgb255 } = det;
  let bg = 0;
  let clean = 0;
  for (let t = 0; t < frames; t++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = t * h * w + y * w + x;
        const l = x > 0 ? p - 1 : -1;
        const r = x < w - 1 ? p + 1 : -1;
        const u = y > 0 ? p - w : -1;
        const d = y < h - 1 ? p + w : -1;
        if (vivid[p] || (l >= 0 && vivid[l]) || (r >= 0 && vivid[r]) || (u >= 0 && vivid[u]) || (d >= 0 && vivid[d])) {
          continue;
        }
        bg++;
        if (isClean(rgb255, p, l, r, u, d)) clean++;
      }
    }
  }
  return clean / Math.max(bg, BG_MIN_FRAC * frames * h * w);
}

// Neighbour indices are -1 outside the frame.
function isClean(rgb: Float32Array, p: number, l: number, r: number, u: number, d: number): boolean {
  for (let c = 0; c < 3; c++) {
    const v = rgb[3 * p + c]!;
    let sum = 0;
    let n = 0;
    for (const q of [l, r, u, d]) {
      if (q < 0) continue;
      sum += rgb[3 * q + c]!;
      n++;
    }
    if (v > DARK_MAX || Math.abs(v - sum / n) > HF_MAX) return false;
  }
  return true;
}

/** Means over clips: accuracies and the [0, 1] scores, all in percent. */
export function aggregate(scores: readonly ClipScores[]): AggregateScores {
  if (scores.length === 0) throw new Error('aggregate needs at least one ClipScores');
  const pct = (key: keyof ClipScores): number => (100 * scores.reduce((s, c) => s + c[key], 0)) / scores.length;
  return {
    colourAcc: pct('colour'),
    shapeAcc: pct('shape'),
    directionAcc: pct('direction'),
    smoothness: pct('smoothness'),
    consistency: pct('consistency'),
    background: pct('background'),
  };
}
