import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClipShape } from '../video/frames.ts';
import type { ClipRequest } from './generate-clips.ts';

/** clips.bin: the clips of result.json's `clips` list, in that order, as raw little-endian float32 [n, T, H, W, C]. */
export const CLIPS_BIN = 'clips.bin';
export const RESULT_JSON = 'result.json';

export function encodeClipsBin(clips: readonly Float32Array[]): Uint8Array {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('clips.bin needs a little-endian host');
  const size = clips[0]?.length ?? 0;
  const out = new Float32Array(clips.length * size);
  clips.forEach((c, i) => out.set(c, i * size));
  return new Uint8Array(out.buffer);
}

/** The clips of an earlier eval folder, keyed `${cls}/${seed}`, checked against this run's clip shape. */
export function readReferenceClips(dir: string, shape: ClipShape): Map<string, Float32Array> {
  const resultPath = join(dir, RESULT_JSON);
  const binPath = join(dir, CLIPS_BIN);
  for (const p of [resultPath, binPath]) if (!existsSync(p)) throw new Error(`reference ${dir}: no ${p}`);
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as { clips?: { class: number; seed: number }[] };
  if (!Array.isArray(result.clips)) throw new Error(`reference ${resultPath}: no 'clips' list`);
  const size = shape.reduce((a, b) => a * b, 1);
  const buf = readFileSync(binPath);
  if (buf.byteLength !== result.clips.length * size * 4) {
    throw new Error(`reference ${binPath}: ${buf.byteLength} bytes, but ${result.clips.length} clips of ` +
      `[${shape.join(',')}] float32 need ${result.clips.length * size * 4}`);
  }
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const out = new Map<string, Float32Array>();
  result.clips.forEach((c, i) => {
    out.set(clipKey({ cls: c.class, seed: c.seed }), all.subarray(i * size, (i + 1) * size));
  });
  return out;
}

export function clipKey(r: ClipRequest): string {
  return `${r.cls}/${r.seed}`;
}
