import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { print } from '../../../ir/print.ts';
import { openDevice, closeDevice } from '../../../runtime/device.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';

const BIN = new URL('../../../bin/vdit.js', import.meta.url).pathname;
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'vdit-compare-cli-'));
// the narrow tiny model as IR text: every kernel kind of tiny, a few seconds on lavapipe
const MODEL = join(dir, 'narrow.ir');
writeFileSync(MODEL, print(buildDiT(narrowTinySmallClip(2))));

const gpu = await openDevice().catch(() => undefined);
if (gpu) closeDevice(gpu);

async function vdit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [BIN, ...args], { timeout: 300_000, maxBuffer: 64 * 2 ** 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const ours = (s: string): string[] => s.split('\n').filter((l) => l && !l.startsWith('Warning: '));

interface JsonRow {
  index: number; name: string; op: string; ok: boolean; maxAbsError: number; ms: number; cuda: { status: string };
}

describe('vdit compare', () => {
  it('bad settings are one clear line and a non-zero exit', async () => {
    for (const [args, msg] of [
      [['--quant', 'w3a3'], /--quant 'w3a3' is not one of/],
      [['--method', 'magic'], /--method 'magic' is not one of/],
      [['--repeats', '0'], /--repeats must be an integer ≥ 1/],
    ] as const) {
      const r = await vdit('compare', MODEL, '--weights', 'seeded', ...args);
      expect(r.code).not.toBe(0);
      expect(ours(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^vdit: error: ${msg.source}`))]);
    }
  });

  it.skipIf(!gpu)('--json --html: every kernel within tolerance, one bar per kernel in the page', async () => {
    const html = join(dir, 'report.html');
    const r = await vdit('compare', MODEL, '--weights', 'seeded', '--quant', 'w4a8', '--json', '--html', html, '--repeats', '2');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { rows: JsonRow[]; softwareAdapter: boolean; quant: string };
    expect(res.quant).toBe('w4a8');
    expect(res.rows.length).toBeGreaterThan(10);
    for (const x of res.rows) {
      expect(x.ok, `#${x.index} ${x.name}`).toBe(true);
      expect(Number.isFinite(x.maxAbsError) && x.ms > 0).toBe(true);
      expect(x.cuda.status).toMatch(/^needs CUDA runtime \(GPU \+ nvcc\): /);
    }
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<rect class="bar/g)!.length).toBe(res.rows.length);
    // written under a temp name and renamed: nothing else is left in the folder
    expect(readdirSync(dir).sort()).toEqual(['narrow.ir', 'report.html']);
  });

  it.skipIf(!gpu)('text output: the table, what needs a GPU, and the CUDA columns', async () => {
    const r = await vdit('compare', MODEL, '--weights', 'seeded', '--repeats', '1', '--warmup', '0');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/max abs err +max rel err +tolerance +check/);
    expect(r.stdout).toMatch(/\d+\/\d+ kernels within tolerance/);
    expect(r.stdout).toContain('needs CUDA runtime (GPU + nvcc)');
    if (/llvmpipe|swiftshader/i.test(r.stdout)) expect(r.stdout).toMatch(/software adapter.*need a GPU/s);
  });

  it.skipIf(!gpu)('--show prints the WGSL and the CUDA source of one kernel side by side', async () => {
    const r = await vdit('compare', MODEL, '--weights', 'seeded', '--show', 'qgemm');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.find((l) => l.includes('│'))).toMatch(/^WGSL \w+ +│ CUDA vdit_qgemm/);
    const column = (c: number): string => lines.map((l) => l.split(' │ ')[c] ?? '').join('\n');
    const [wgsl, cuda] = [column(0), column(1)];
    expect(wgsl).toMatch(/@compute @workgroup_size/);
    expect(cuda).toMatch(/extern "C" __global__/);
    const json = JSON.parse((await vdit('compare', MODEL, '--weights', 'seeded', '--show', '1', '--json')).stdout);
    expect(json.wgsl.source).toContain('fn ');
    expect(json.cuda.source).toContain('__global__');
    const bad = await vdit('compare', MODEL, '--weights', 'seeded', '--show', 'nope');
    const why = /^vdit: error: --show: no kernel 'nope' \(give a row number 1\.\.\d+ or a name/;
    expect(ours(bad.stderr)).toEqual([expect.stringMatching(why)]);
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  });
});
