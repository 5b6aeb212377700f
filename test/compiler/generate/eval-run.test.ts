import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { evalCommand } from '../../../compiler/commands/eval.ts';
import { generateCommand } from '../../../compiler/commands/generate.ts';
import { CLASS_NAMES } from '../../../compiler/data/classes.ts';
import { floatToClip } from '../../../compiler/data/moving-shapes.ts';
import { runEval } from '../../../compiler/generate/eval-run.ts';
import { evalRequests } from '../../../compiler/generate/eval-set.ts';
import { writeEvalDir } from '../../../compiler/generate/eval-write.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import type { LoadedModel } from '../../../compiler/models.ts';
import { encodeGif } from '../../../compiler/video/gif.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { print } from '../../../ir/print.ts';
import { narrowTiny } from '../model/narrow-tiny.ts';

// 2 blocks at reduced width: a batch-8 CPU forward takes ~1.5 s
const CFG = narrowTiny();
const root = mkdtempSync(join(tmpdir(), 'vdit-eval-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function presetModel(): LoadedModel {
  const graph = buildDiT(CFG);
  return { name: 'tiny-2', graph, weights: seededWeights(graph, 0), config: CFG, weightsFrom: 'seed 0' };
}

async function captureStdout(f: () => Promise<void>): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  try {
    await f();
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('eval', () => {
  const first = join(root, 'first');
  const irFile = join(root, 'tiny-2.ir');

  it('evalRequests: standard 48 × 4, heldout the same classes on 4 other seeds, quick 8 distinct classes covering every colour and direction', () => {
    const std = evalRequests('standard');
    expect(std).toHaveLength(192);
    expect(new Set(std.map((r) => `${r.cls}/${r.seed}`)).size).toBe(192);
    const held = evalRequests('heldout');
    expect(held.map((r) => r.cls)).toEqual(std.map((r) => r.cls));
    expect([...new Set(held.map((r) => r.seed))].sort()).toEqual([4, 5, 6, 7]);
    const quick = evalRequests('quick');
    expect(new Set(quick.map((r) => r.cls)).size).toBe(8);
    expect(new Set(quick.map((r) => (r.cls >> 2) % 4)).size).toBe(4);
    expect(new Set(quick.map((r) => r.cls % 4)).size).toBe(4);
  });

  it('quick set, 2 steps on CPU, 4 clips per forward: writes result.json, clips.bin, index.html', async () => {
    const opts = { set: 'quick', backend: 'cpu', dtype: 'f32', steps: 2, cfg: 4, batch: 4 } as const;
    const run = await runEval(presetModel(), opts);
    const files = writeEvalDir(first, run);
    expect(readdirSync(first).sort()).toEqual(['clips.bin', 'index.html', 'result.json']);
    expect(files.every(existsSync)).toBe(true);
    expect(readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const result = JSON.parse(readFileSync(join(first, 'result.json'), 'utf8'));
    expect(result.clips).toHaveLength(8);
    expect(result.settings).toMatchObject({ set: 'quick', steps: 2, cfg: 4, batch: 4, nullClass: 48 });
    expect(result.timing.forwards).toBe(4);
    expect(Object.keys(result.aggregate).sort()).toEqual(
      ['background', 'colourAcc', 'consistency', 'directionAcc', 'shapeAcc', 'smoothness']);
    expect(Object.keys(result.clips[0].scores).sort()).toEqual(
      ['background', 'colour', 'consistency', 'direction', 'shape', 'smoothness']);
    const bin = readFileSync(join(first, 'clips.bin'));
    expect(bin.byteLength).toBe(8 * 16 * 32 * 32 * 3 * 4);
    const clips = new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4);
    expect(clips.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(new Set(clips).size).toBeGreaterThan(1000);
    const html = readFileSync(join(first, 'index.html'), 'utf8');
    expect(html.match(/src="data:image\/gif;base64,R0lGODlh/g)).toHaveLength(8);
    for (const c of result.clips) expect(html).toContain(CLASS_NAMES[c.class]);
  });

  it('CLI on an IR file (1 clip per forward) against the reference: identical clips, whatever the batch', async () => {
    writeFileSync(irFile, print(buildDiT({ ...CFG, batch: 2 })));
    const out = join(root, 'second');
    const json = await captureStdout(() => evalCommand.handler({
      model: irFile, set: 'quick', backend: 'cpu', dtype: 'f32', steps: 2, cfg: 4, batch: 1, reference: first,
      output: out, json: true, verbose: false,
    }));
    expect(JSON.parse(json).reference).toMatchObject({ psnr: 'Infinity', ssim: 1, matched: 8 });
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(result.clips.map((c: { psnr: unknown }) => c.psnr)).toEqual(Array(8).fill('Infinity'));
    expect(readFileSync(join(out, 'clips.bin'))).toEqual(readFileSync(join(first, 'clips.bin')));
    await expect(evalCommand.handler({
      model: irFile, set: 'quick', backend: 'cpu', dtype: 'f32', steps: 2, cfg: 4, batch: 3,
      output: join(root, 'bad'), json: true, verbose: false,
    })).rejects.toThrow(/built for 1 clip\(s\) per forward/);
  });

  it('generate writes the same clip as eval for its (class, seed), byte-identical GIF, JSON report', async () => {
    const result = JSON.parse(readFileSync(join(first, 'result.json'), 'utf8'));
    const { class: cls, className, seed } = result.clips[5];
    const gif = join(root, 'clip.gif');
    const json = await captureStdout(() => generateCommand.handler({
      model: irFile, class: className, seed, steps: 2, cfg: 4, backend: 'cpu', dtype: 'f32', output: gif, scale: 4,
      json: true, verbose: false,
    }));
    const report = JSON.parse(json);
    expect(report).toMatchObject({ output: gif, class: cls, className, seed, steps: 2, cfg: 4, backend: 'cpu' });
    expect(report.perStepMs).toBeGreaterThan(0);
    const bin = readFileSync(join(first, 'clips.bin'));
    const size = 16 * 32 * 32 * 3;
    const clip = new Float32Array(bin.buffer, bin.byteOffset + 5 * size * 4, size);
    expect(readFileSync(gif)).toEqual(Buffer.from(encodeGif(floatToClip(clip), [16, 32, 32, 3])));
    await expect(generateCommand.handler({
      model: irFile, class: 'purple blob', seed: 0, steps: 2, cfg: 4, backend: 'cpu', dtype: 'f32', output: gif,
      scale: 4, json: true, verbose: false,
    })).rejects.toThrow(/invalid class "purple blob"/);
  });
});
