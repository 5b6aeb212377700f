import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../compiler/model/dit.ts';
import { tinyConfig } from '../../compiler/model/presets.ts';
import { print } from '../../ir/print.ts';

const BIN = new URL('../../bin/vdit.js', import.meta.url).pathname;
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'vdit-cli-'));

async function vdit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [BIN, ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** stderr minus Dawn's own warnings: what the user reads from us. */
const ours = (s: string): string[] => s.split('\n').filter((l) => l && !l.startsWith('Warning: '));

describe('vdit CLI', () => {
  it('an unknown preset is one clear line and a non-zero exit', async () => {
    const r = await vdit('inspect', 'no-such-model');
    expect(r.code).not.toBe(0);
    expect(ours(r.stderr)).toEqual([expect.stringMatching(/^vdit: error: unknown model 'no-such-model': not a preset \(tiny/)]);
  });

  it('malformed IR text names the file, line and column', async () => {
    const file = join(dir, 'bad.ir');
    writeFileSync(file, 'graph g(%x: f32[2]) {\n  %0: f32[2] = exp(%x\n  return %0\n}\n');
    const r = await vdit('inspect', file);
    expect(r.code).not.toBe(0);
    expect(ours(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^vdit: error: ${file}:3:3: expected`))]);
  });

  it('a truncated safetensors file is one clear line', async () => {
    const file = join(dir, 'cut.safetensors');
    const whole = readFileSync(new URL('../fixtures/tiny-parity.safetensors', import.meta.url));
    writeFileSync(file, whole.subarray(0, whole.length - 1000));
    const r = await vdit('run', 'tiny', '--backend', 'cpu', '--weights', file);
    expect(r.code).not.toBe(0);
    expect(ours(r.stderr)).toEqual([expect.stringMatching(/^vdit: error: .*cut\.safetensors.*truncated/)]);
  });

  it('--kernel names the variants that exist when given one that does not (run, generate, eval)', async () => {
    for (const cmd of [['run', 'tiny'], ['generate', 'tiny', '--class', '1'], ['eval', 'tiny', '-o', join(dir, 'ev')]]) {
      const r = await vdit(...cmd, '--weights', 'seeded', '--kernel', 'qgemm=tensorcore');
      expect(r.code).not.toBe(0);
      expect(ours(r.stderr)).toEqual([expect.stringMatching(/^vdit: error: --kernel: no tensorcore kernel for qgemm \(have sgmat, dp4a/)]);
    }
  });

  it('inspect of printed IR prints the same text again, also as --json', async () => {
    const printed = (await vdit('inspect', 'tiny')).stdout;
    const file = join(dir, 'tiny.ir');
    writeFileSync(file, printed);
    expect((await vdit('inspect', file)).stdout).toBe(printed);
    const json = JSON.parse((await vdit('inspect', file, '--json')).stdout) as { ir: string };
    expect(`${json.ir.trimEnd()}\n`).toBe(printed);
  });

  it('--print-after all prints the IR after every pass of the default pipeline', async () => {
    const r = await vdit('inspect', 'tiny', '--print-after', 'all');
    expect(r.code).toBe(0);
    const heads = r.stdout.split('\n').filter((l) => l.startsWith('// ----- IR after'));
    expect(heads).toEqual(['canonicalize', 'dce', 'fuse-elementwise'].map((p) => `// ----- IR after ${p} -----`));
  });
});

describe('vdit run --prune', () => {
  it('runs the pruned build (online tiles need no store) and says what it kept; a static --prune without a store is one clear line', async () => {
    const file = join(dir, 'dit1.ir');
    writeFileSync(file, print(buildDiT(tinyConfig({ depth: 1, video: [4, 16, 16, 3] }))));
    const base = ['run', file, '--backend', 'cpu', '--weights', 'seeded', '--json'];
    const dense = JSON.parse((await vdit(...base)).stdout) as { outputs: { mean: number }[]; pruning?: unknown };
    const r = await vdit(...base, '--prune', 'keep=0.5,tile=16,select=online');
    expect(r.code).toBe(0);
    const pruned = JSON.parse(r.stdout) as { outputs: { mean: number }[]; pruning: { block: number; keptFraction: number }[] };
    expect(dense.pruning).toBeUndefined();
    expect(pruned.pruning).toEqual([{ block: 0, keptFraction: 0.5 }]);
    expect(pruned.outputs[0]!.mean).not.toBe(dense.outputs[0]!.mean);
    const bad = await vdit('run', file, '--backend', 'cpu', '--weights', 'seeded', '--prune', 'keep=0.5');
    expect(bad.code).not.toBe(0);
    expect(ours(bad.stderr)).toEqual([expect.stringMatching(/^vdit: error: --prune needs --calib-store <dir>.*or select=online/)]);
  });
});
