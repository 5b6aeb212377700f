// Per-frame shape detection from pixels alone, for scoring real and generated moving-shapes clips.
// Foreground = "vivid" pixels: bright or saturated, which the dark greyish background never is (its channels stay
// below ~48 with chroma below ~10 on the 0..255 scale), while every palette colour has a channel of 200 or more.
// The shape is the largest 4-connected vivid component, accepted only when it is shape-sized and holds most of the
// frame's vivid pixels, so speckle and full-frame noise give "no shape".

import { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE } from '../data/moving-shapes.ts';

const VIVID_MAX = 110;
const VIVID_CHROMA = 70;
const MIN_AREA = 12;
const MAX_AREA = 320;
const MIN_SHARE = 0.5;
// Upright triangles put the centroid 1/6 of the box height below the box centre; discs and squares put it at 0.
const TRIANGLE_SKEW = 0.08;
const SQUARE_FILL = 0.96;

export interface ClipGeometry {
  readonly frames: number;
  readonly height: number;
  readonly width: number;
}

export interface FrameDetection {
  readonly area: number;
  /** centroid in pixel coordinates (pixel centres at i + 0.5) */
  readonly cx: number;
  readonly cy: number;
  /** mean colour of the component on the 0..255 scale */
  readonly rgb: readonly [number, number, number];
  readonly fill: number;
  readonly skew: number;
  readonly corners: number;
  readonly shape: number;
}

export interface ClipDetection {
  readonly geometry: ClipGeometry;
  /** per frame: the detected shape, or null */
  readonly frames: readonly (FrameDetection | null)[];
  /** [frames, height, width] 1 where the pixel is vivid (foreground of any kind) */
  readonly vivid: Uint8Array;
  /** the clip on the 0..255 scale, [frames, height, width, 3] */
  readonly rgb255: Float32Array;
}

export function geometryOf(length: number, height: number, width: number): ClipGeometry {
  const per = height * width * 3;
  if (!Number.isInteger(length / per) || length === 0) {
    throw new Error(`clip length ${length} is not a whole number of ${height}x${width}x3 frames`);
  }
  return { frames: length / per, height, width };
}

export function detectClip(clip: Float32Array, height = 32, width = 32): ClipDetection {
  const geometry = geometryOf(clip.length, height, width);
  const rgb255 = new Float32Array(clip.length);
  for (let i = 0; i < clip.length; i++) {
    const v = (clip[i]! + 1) * 127.5;
    rgb255[i] = Number.isNaN(v) ? 0 : v;
  }
  const hw = height * width;
  const vivid = new Uint8Array(geometry.frames * hw);
  for (let p = 0; p < vivid.length; p++) {
    const r = rgb255[3 * p]!;
    const g = rgb255[3 * p + 1]!;
    const b = rgb255[3 * p + 2]!;
    const max = Math.max(r, g, b);
    vivid[p] = max >= VIVID_MAX || max - Math.min(r, g, b) >= VIVID_CHROMA ? 1 : 0;
  }
  const frames: (FrameDetection | null)[] = [];
  for (let t = 0; t < geometry.frames; t++) {
    const mask = vivid.subarray(t * hw, (t + 1) * hw);
    frames.push(detectFrame(mask, rgb255.subarray(3 * t * hw, 3 * (t + 1) * hw), geometry));
  }
  return { geometry, frames, vivid, rgb255 };
}

// Largest 4-connected component of the mask, as pixel indices.
function largestComponent(mask: Uint8Array, g: ClipGeometry): { pixels: number[]; total: number } {
  const seen = new Uint8Array(mask.length);
  let best: number[] = [];
  let total = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    const comp = [start];
    seen[start] = 1;
    for (let k = 0; k < comp.length; k++) {
      const p = comp[k]!;
      const x = p % g.width;
      const nbrs = [x > 0 ? p - 1 : -1, x < g.width - 1 ? p + 1 : -1, p - g.width, p + g.width];
      for (const q of nbrs) {
        if (q >= 0 && q < mask.length && mask[q] && !seen[q]) {
          seen[q] = 1;
          comp.push(q);
        }
      }
    }
    total += comp.length;
    if (comp.length > best.length) best = comp;
  }
  return { pixels: best, total };
}

function detectFrame(mask: Uint8Array, rgb: Float32Array, g: ClipGeometry): FrameDetection | null {
  const { pixels, total } = largestComponent(mask, g);
  const area = pixels.length;
  if (area < MIN_AREA || area > MAX_AREA || area < MIN_SHARE * total) return null;
  let sx = 0, sy = 0, minX = g.width, maxX = -1, minY = g.height, maxY = -1;
  let sr = 0, sg = 0, sb = 0;
  for (const p of pixels) {
    const x = p % g.width;
    const y = (p - x) / g.width;
    sx += x + 0.5;
    sy += y + 0.5;
    minX = Math.min(minX, x); maxX = Math.max(maxX, x);
    minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    sr += rgb[3 * p]!;
    sg += rgb[3 * p + 1]!;
    sb += rgb[3 * p + 2]!;
  }
  const bw = maxX - minX + 1;
  const bh = maxY - minY + 1;
  const cy = sy / area;
  const fill = area / (bw * bh);
  const skew = (cy - (minY + maxY + 1) / 2) / bh;
  const at = (x: number, y: number): number => mask[y * g.width + x]!;
  const corners = at(minX, minY) + at(maxX, minY) + at(minX, maxY) + at(maxX, maxY);
  return {
    area, cx: sx / area, cy, fill, skew, corners,
    rgb: [sr / area, sg / area, sb / area],
    shape: classifyShape(fill, skew, corners),
  };
}

// Rules, not a fit: triangles by centroid skew, squares by filled box corners (a disc never fills them) or a full box.
export function classifyShape(fill: number, skew: number, corners: number): number {
  if (skew >= TRIANGLE_SKEW) return SHAPE_TRIANGLE;
  if (corners >= 3 || fill >= SQUARE_FILL) return SHAPE_SQUARE;
  return SHAPE_CIRCLE;
}
