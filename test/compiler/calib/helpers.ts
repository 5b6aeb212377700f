import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyConfig } from '../../../compiler/model/presets.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';

/** A 2-block tiny model over 2×8×8 clips: 1·2·2 = 4 video tokens of width 64, 2 heads (fast on the CPU). */
export const SMALL = tinyConfig({
  name: 'tiny-calib', depth: 2, video: [2, 8, 8, 3], hidden: 64, heads: 2, ffn: 128, rope: { dims: [8, 12, 12], theta: 10000 },
  batch: 2,
});
export const SMALL_WEIGHTS = seededWeights(buildDiT(SMALL), 11);

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vdit-calib-'));
}
