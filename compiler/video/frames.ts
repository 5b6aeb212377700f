/** A clip [T, H, W, C] channels-last, C = 3 (RGB). */
export type ClipShape = readonly [number, number, number, number];

export function checkClip(bytes: Uint8Array, shape: ClipShape): void {
  const [t, h, w, c] = shape;
  if (c !== 3) throw new Error(`video output needs RGB clips (C = 3), got shape [${shape.join(',')}]`);
  if (bytes.length !== t * h * w * c) {
    throw new Error(`clip of shape [${shape.join(',')}] needs ${t * h * w * c} bytes, got ${bytes.length}`);
  }
}

export function checkScale(scale: number): void {
  if (!(Number.isInteger(scale) && scale >= 1 && scale <= 64)) {
    throw new Error(`scale must be an integer in [1, 64], got ${scale}`);
  }
}

/** Frame t of an RGB clip, as `channels`-per-pixel bytes (3: RGB, 4: RGBA with opaque alpha). */
export function frameAt(bytes: Uint8Array, shape: ClipShape, t: number, channels: 3 | 4): Uint8Array {
  const [, h, w] = shape;
  const px = h * w;
  const src = bytes.subarray(t * px * 3, (t + 1) * px * 3);
  if (channels === 3) return src.slice();
  const out = new Uint8Array(px * 4);
  for (let i = 0; i < px; i++) {
    out[4 * i] = src[3 * i]!;
    out[4 * i + 1] = src[3 * i + 1]!;
    out[4 * i + 2] = src[3 * i + 2]!;
    out[4 * i + 3] = 255;
  }
  return out;
}

/** Nearest-neighbour upscaling of an h×w image with `channels` bytes per pixel by an integer factor. */
export function upscaleNearest(img: Uint8Array, h: number, w: number, channels: number, scale: number): Uint8Array {
  if (scale === 1) return img;
  const W = w * scale;
  const out = new Uint8Array(h * scale * W * channels);
  for (let y = 0; y < h * scale; y++) {
    const row = Math.floor(y / scale) * w;
    for (let x = 0; x < W; x++) {
      const s = (row + Math.floor(x / scale)) * channels;
      const d = (y * W + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = img[s + c]!;
    }
  }
  return out;
}
