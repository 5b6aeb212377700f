// Side by side, the clips of a pruned (or otherwise changed) build and of its dense twin, as one animated GIF: reads
// two `vdit eval -o` folders (result.json + clips.bin of the same set) and writes one row per picked clip —
// dense | changed | |difference| ×4 — picking the clips at the worst, 25th-percentile, median and best PSNR vs dense
// (--clips N spreads N picks over that order).
//   npx tsx bench/prune-clips.ts <dense-eval-dir> <changed-eval-dir> -o bench/results/prune/clips.gif [--clips 4]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLIPS_BIN, RESULT_JSON, clipKey, readReferenceClips } from '../compiler/generate/clips-bin.ts';
import { floatToClip } from '../compiler/data/moving-shapes.ts';
import { writeFileAtomic } from '../compiler/video/atomic.ts';
import type { ClipShape } from '../compiler/video/frames.ts';
import { encodeGif } from '../compiler/video/gif.ts';

interface EvalClip { readonly class: number; readonly className: string; readonly seed: number; readonly psnr?: number }

/** The clips of one eval folder by `${class}/${seed}`, with its list and clip shape. */
function readEval(dir: string): { clips: readonly EvalClip[]; shape: ClipShape; data: Map<string, Float32Array> } {
  const r = JSON.parse(readFileSync(join(dir, RESULT_JSON), 'utf8')) as { clips?: EvalClip[]; clipShape?: number[] };
  if (!Array.isArray(r.clips) || r.clipShape?.length !== 4) {
    throw new Error(`${dir}/${RESULT_JSON}: no clips list or clip shape (is it a \`vdit eval -o\` folder with ${CLIPS_BIN}?)`);
  }
  const shape = r.clipShape as unknown as ClipShape;
  return { clips: r.clips, shape, data: readReferenceClips(dir, shape) };
}

/** `n` picks spread over the clips sorted by PSNR vs dense (worst first), distinct. */
export function pickClips(clips: readonly EvalClip[], n: number): EvalClip[] {
  const sorted = clips.filter((c) => typeof c.psnr === 'number').sort((a, b) => a.psnr! - b.psnr!);
  if (sorted.length === 0) throw new Error('the changed eval holds no PSNR vs dense (run it with --reference <dense dir>)');
  const at = Array.from({ length: Math.min(n, sorted.length) }, (_, i) =>
    Math.round((i * (sorted.length - 1)) / Math.max(1, Math.min(n, sorted.length) - 1)));
  return [...new Set(at)].map((i) => sorted[i]!);
}

/** Rows of [dense | changed | |difference|·gain] per clip, frames [T, rows·H, 3·W, C] in the clips' [-1, 1] range. */
export function sideBySide(rows: readonly (readonly [Float32Array, Float32Array])[], shape: ClipShape, gain = 4): Float32Array {
  const [T, H, W, C] = shape;
  const out = new Float32Array(T * rows.length * H * 3 * W * C).fill(-1);
  const rowPitch = 3 * W * C;
  rows.forEach(([a, b], r) => {
    for (let t = 0; t < T; t++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W * C; x++) {
          const src = ((t * H + y) * W) * C + x;
          const dst = ((t * rows.length + r) * H + y) * rowPitch + x;
          const [u, v] = [a[src]!, b[src]!];
          out[dst] = u;
          out[dst + W * C] = v;
          out[dst + 2 * W * C] = Math.min(1, -1 + gain * Math.abs(u - v));
        }
      }
    }
  });
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true, options: { output: { type: 'string', short: 'o' }, clips: { type: 'string', default: '4' } },
  });
  const [denseDir, changedDir] = positionals;
  if (!denseDir || !changedDir || !values.output) {
    throw new Error('usage: npx tsx bench/prune-clips.ts <dense-eval-dir> <changed-eval-dir> -o out.gif [--clips 4]');
  }
  const [dense, changed] = [readEval(denseDir), readEval(changedDir)];
  if (dense.shape.join() !== changed.shape.join()) {
    throw new Error(`clip shapes differ: [${dense.shape.join(', ')}] vs [${changed.shape.join(', ')}]`);
  }
  const picks = pickClips(changed.clips, Number(values.clips));
  const rows = picks.map((c) => {
    const key = clipKey({ cls: c.class, seed: c.seed });
    const d = dense.data.get(key);
    if (!d) throw new Error(`${denseDir}: no clip of class ${c.class}, seed ${c.seed}`);
    return [d, changed.data.get(key)!] as const;
  });
  const [T, H, W, C] = dense.shape;
  const shape: ClipShape = [T, rows.length * H, 3 * W, C];
  writeFileAtomic(values.output, encodeGif(floatToClip(sideBySide(rows, dense.shape)), shape, { scale: 3 }));
  console.log(`${values.output}: rows ${picks.map((c) => `${c.className} seed ${c.seed} (${c.psnr!.toFixed(1)} dB)`).join('; ')}; ` +
    'columns dense | changed | |difference| ×4');
}
