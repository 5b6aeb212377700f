// Synthetic "moving shapes" clips: one hard-edged shape of one clean colour sliding over a dark, static,
// smoothly textured background, bouncing off the walls.
//
// Byte-identical port: models/tiny/data.py. Only + - * / floor and comparisons on float64 are used, in the
// same order in both languages, and the PRNG draws happen in this fixed order:
//   3 tint draws (r, g, b), GRID*GRID background draws (row-major), size, speed, cross-axis position,
//   along-axis position.
// Layout of a clip: [FRAMES, SIZE, SIZE, 3] u8, frame-major, channels-last.

import { DIRECTION_STEP, PALETTE, checkClass, classParts } from './classes.ts';
import { clipSeed, mulberry32, type Prng } from './prng.ts';

export const FRAMES = 16;
export const SIZE = 32;
export const CHANNELS = 3;
export const CLIP_SHAPE = [FRAMES, SIZE, SIZE, CHANNELS] as const;
export const CLIP_LEN = FRAMES * SIZE * SIZE * CHANNELS;

const GRID = 8;
const BG_LO = 18;
const BG_HI = 42;
const TINT = 3;
const SIZE_LO = 4;
const SIZE_HI = 6;
const SPEED_LO = 1;
const SPEED_HI = 2;
// Steps guaranteed to move in the class direction before the first bounce.
const CLEAR_STEPS = 6;

export const SHAPE_CIRCLE = 0;
export const SHAPE_SQUARE = 1;
export const SHAPE_TRIANGLE = 2;

export interface ShapeState {
  /** centre x, y in pixels (pixel i covers [i, i+1)) */
  readonly x: number;
  readonly y: number;
  /** radius / half-size in pixels */
  readonly size: number;
}

// Pixel-centre inside test; (dx, dy) is the centre offset from the shape centre, s its half-size.
export function insideShape(shape: number, dx: number, dy: number, s: number): boolean {
  if (shape === SHAPE_CIRCLE) return dx * dx + dy * dy <= s * s;
  const ax = dx < 0 ? -dx : dx;
  if (shape === SHAPE_SQUARE) return ax <= s && (dy < 0 ? -dy : dy) <= s;
  // Upward isosceles triangle: apex (0, -s), base y = s of half-width s.
  return dy <= s && 2 * ax <= dy + s;
}

function background(rng: Prng): Float64Array {
  const tint = [rng.range(-TINT, TINT), rng.range(-TINT, TINT), rng.range(-TINT, TINT)];
  const grid = new Float64Array(GRID * GRID);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.range(BG_LO, BG_HI);
  const out = new Float64Array(SIZE * SIZE * CHANNELS);
  for (let y = 0; y < SIZE; y++) {
    const gy = ((y + 0.5) / SIZE) * (GRID - 1);
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < SIZE; x++) {
      const gx = ((x + 0.5) / SIZE) * (GRID - 1);
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      const g = (r: number, c: number): number => grid[r * GRID + c]!;
      const top = g(y0, x0) + (g(y0, x0 + 1) - g(y0, x0)) * fx;
      const bot = g(y0 + 1, x0) + (g(y0 + 1, x0 + 1) - g(y0 + 1, x0)) * fx;
      const v = top + (bot - top) * fy;
      for (let c = 0; c < CHANNELS; c++) out[(y * SIZE + x) * CHANNELS + c] = Math.floor(v + tint[c]! + 0.5);
    }
  }
  return out;
}

// Centre positions for every frame; reflection at [size, SIZE - size] keeps the shape fully visible.
export function trajectory(direction: number, rng: Prng): ShapeState[] {
  const size = rng.range(SIZE_LO, SIZE_HI);
  const speed = rng.range(SPEED_LO, SPEED_HI);
  const lo = size;
  const hi = SIZE - size;
  const cross = rng.range(lo, hi);
  const u = rng.next();
  const [sx, sy] = DIRECTION_STEP[direction]!;
  const forward = sx + sy > 0;
  const along = forward ? lo + (hi - CLEAR_STEPS * speed - lo) * u : hi - (hi - CLEAR_STEPS * speed - lo) * u;
  const pos = sx !== 0 ? [along, cross] : [cross, along];
  const vel = [sx * speed, sy * speed];
  const states: ShapeState[] = [];
  for (let t = 0; t < FRAMES; t++) {
    states.push({ x: pos[0]!, y: pos[1]!, size });
    for (let a = 0; a < 2; a++) {
      let p = pos[a]! + vel[a]!;
      if (p > hi) {
        p = hi - (p - hi);
        vel[a] = -vel[a]!;
      } else if (p < lo) {
        p = lo + (lo - p);
        vel[a] = -vel[a]!;
      }
      pos[a] = p;
    }
  }
  return states;
}

/** One clip as u8 [16, 32, 32, 3] (frame-major, channels-last) for class `cls` and seed `seed` (u32). */
export function movingShapesClip(cls: number, seed: number): Uint8Array {
  checkClass(cls);
  const rng = mulberry32(clipSeed(cls, seed));
  const { shape, colour, direction } = classParts(cls);
  const bg = background(rng);
  const rgb = PALETTE[colour]!;
  const out = new Uint8Array(CLIP_LEN);
  const states = trajectory(direction, rng);
  for (let t = 0; t < FRAMES; t++) {
    const { x: cx, y: cy, size } = states[t]!;
    const base = t * SIZE * SIZE * CHANNELS;
    for (let y = 0; y < SIZE; y++) {
      const dy = y + 0.5 - cy;
      for (let x = 0; x < SIZE; x++) {
        const i = (y * SIZE + x) * CHANNELS;
        const hit = insideShape(shape, x + 0.5 - cx, dy, size);
        for (let c = 0; c < CHANNELS; c++) out[base + i + c] = hit ? rgb[c]! : bg[i + c]!;
      }
    }
  }
  return out;
}

/** u8 clip → float32 in [-1, 1] as v / 127.5 - 1 (computed in float64, then rounded once). */
export function clipToFloat(u8: Uint8Array): Float32Array {
  const out = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) out[i] = u8[i]! / 127.5 - 1;
  return out;
}

/** float clip in [-1, 1] → u8 with rounding and clamping (for saving generated clips). */
export function floatToClip(f: Float32Array): Uint8Array {
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const v = Math.floor((f[i]! + 1) * 127.5 + 0.5);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : Number.isNaN(v) ? 0 : v;
  }
  return out;
}
