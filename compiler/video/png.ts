import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { writeDirAtomic } from './atomic.ts';
import { checkClip, checkScale, frameAt, upscaleNearest, type ClipShape } from './frames.ts';

/** One RGB image (h×w×3 bytes) as an 8-bit PNG; no time or text chunks, so equal pixels give equal bytes. */
export function encodePng(rgb: Uint8Array, h: number, w: number): Uint8Array {
  if (rgb.length !== h * w * 3) throw new Error(`PNG of ${w}×${h} RGB needs ${h * w * 3} bytes, got ${rgb.length}`);
  return encode({ width: w, height: h, data: rgb, channels: 3, depth: 8 });
}

/** Frame file names: frame_000.png, frame_001.png, … (zero-padded to sort in order). */
export function frameFileName(i: number): string {
  return `frame_${String(i).padStart(3, '0')}.png`;
}

/** Every frame of an RGB clip as PNGs (nearest-neighbour upscaled) in dir, written atomically as a whole. */
export function writePngFrames(dir: string, bytes: Uint8Array, shape: ClipShape, scale = 4): string[] {
  checkClip(bytes, shape);
  checkScale(scale);
  const [t, h, w] = shape;
  const names = Array.from({ length: t }, (_, i) => frameFileName(i));
  writeDirAtomic(dir, (tmp) => {
    names.forEach((name, i) => {
      const rgb = upscaleNearest(frameAt(bytes, shape, i, 3), h, w, 3, scale);
      writeFileSync(join(tmp, name), encodePng(rgb, h * scale, w * scale));
    });
  });
  return names.map((n) => join(dir, n));
}
