import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../../../bin/vdit.js', import.meta.url).pathname;
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'vdit-calib-cli-'));

async function vdit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [BIN, ...args], { timeout: 300_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const ours = (s: string): string[] => s.split('\n').filter((l) => l && !l.startsWith('Warning: '));

describe('vdit calib', () => {
  it('bad settings are one clear line and a non-zero exit, before any sampling', async () => {
    for (const [args, msg] of [
      [['--steps', '0'], /steps must be a positive integer/],
      [['--k', '0'], /K must be a positive integer/],
      [['--lambda-min', '2'], /λ_min must be in \[0, 1\]/],
    ] as const) {
      const r = await vdit('calib', 'tiny', '--backend', 'cpu', '-o', join(dir, 'bad'), ...args);
      expect(r.code).not.toBe(0);
      expect(ours(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^vdit: error: .*${msg.source}`))]);
      expect(existsSync(join(dir, 'bad'))).toBe(false);
    }
  });

  it('tiny on the CPU reference, 1 prompt × 1 step: store, sds.json and λ files (--json)', async () => {
    const out = join(dir, 'ok');
    const r = await vdit('calib', 'tiny', '--backend', 'cpu', '--prompts', '1', '--steps', '1', '--k', '2', '-o', out, '--json');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({ records: 2, candidates: 1, strategy: 'sds', importance: true });
    expect(res.selected).toEqual([{ prompt: 0, step: 0, cond: 0, uncond: 1 }]);
    for (const f of ['manifest.json', 'sds.json', 'block-07.bin', 'attn-07.f32', 'lambda-07.f32']) expect(existsSync(join(out, f))).toBe(true);
  });
});
