import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../video/atomic.ts';
import { CLIPS_BIN, encodeClipsBin, RESULT_JSON } from './clips-bin.ts';
import { renderEvalHtml } from './eval-html.ts';
import type { EvalRun } from './eval-run.ts';

export const INDEX_HTML = 'index.html';

/** result.json, clips.bin and index.html, built in a temp folder and moved into dir once all three are written. */
export function writeEvalDir(dir: string, run: EvalRun): string[] {
  writeDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, RESULT_JSON), `${JSON.stringify(run.result, finiteOrString, 2)}\n`);
    writeFileSync(join(tmp, CLIPS_BIN), encodeClipsBin(run.clips));
    writeFileSync(join(tmp, INDEX_HTML), renderEvalHtml(run.result, run.clips));
  });
  return [RESULT_JSON, CLIPS_BIN, INDEX_HTML].map((f) => join(dir, f));
}

// JSON has no Infinity/NaN (PSNR of identical clips is Infinity): keep them as strings instead of null
export function finiteOrString(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
}
