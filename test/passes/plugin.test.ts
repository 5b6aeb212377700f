import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, verify } from '../../ir/index.ts';
import { builtinPasses, loadPassPlugin, parsePipeline, registerPass, runPipeline } from '../../passes/index.ts';
import { ir } from './expect-pass.ts';

const dir = mkdtempSync(join(tmpdir(), 'vdit-plugin-'));
const PASSES = resolve('passes/index.ts');

function plugin(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

describe('loadPassPlugin', () => {
  it('loads examples/my-pass.ts, whose pass rewrites GELU flavours in a pipeline', async () => {
    const passes = await loadPassPlugin('./examples/my-pass.ts');
    expect(passes.map((p) => p.name)).toEqual(['swap-gelu-tanh']);
    const reg = builtinPasses();
    for (const p of passes) registerPass(reg, p);
    const g = parse(ir(`
      graph g(%x: f32[4]) {
        %0: f32[4] = gelu{approx="none"}(%x)
        %1: f32[4] = gelu{approx="tanh"}(%0)
        return %1
      }`));
    const toTanh = runPipeline(g, parsePipeline('swap-gelu-tanh,fuse-elementwise', reg), { verify });
    expect(toTanh.graph.outputs[0]!.attrs['expr']).toBe('gelu{approx="tanh"}(gelu{approx="tanh"}($0))');
    expect(toTanh.stats.get('swap-gelu-tanh.gelu')).toBe(1);
    const toErf = runPipeline(g, parsePipeline('swap-gelu-tanh{to=none}', reg), { verify });
    expect(toErf.graph.outputs[0]!.attrs['approx']).toBe('none');
    expect(toErf.stats.get('swap-gelu-tanh.gelu')).toBe(1);
    expect(() => runPipeline(g, parsePipeline('swap-gelu-tanh{to=fast}', reg))).toThrow(/to must be tanh or none/);
  });

  it('accepts `passes: [...]` and named pass exports', async () => {
    const list = plugin('list.ts', `
      import { definePass } from ${JSON.stringify(PASSES)};
      export const passes = [
        definePass({ name: 'a-pass', description: '', run: (g) => g }),
        definePass({ name: 'b-pass', description: '', run: (g) => g }),
      ];`);
    expect((await loadPassPlugin(list)).map((p) => p.name)).toEqual(['a-pass', 'b-pass']);
    const named = plugin('named.mjs', `
      export const helper = 3;
      export const first = { name: 'first', description: '', run: (g) => g };`);
    expect((await loadPassPlugin(named)).map((p) => p.name)).toEqual(['first']);
  });

  it('explains a plugin that exports no pass, a malformed one and a missing file', async () => {
    const none = plugin('none.ts', 'export const answer = 42;\n');
    await expect(loadPassPlugin(none)).rejects.toThrow(
      `plugin ${none} exports no pass (expected export const pass = definePass({...}))`,
    );
    const bad = plugin('bad.ts', "export const pass = { name: 'x' };\n");
    await expect(loadPassPlugin(bad)).rejects.toThrow(/export 'pass' is not a pass/);
    const broken = plugin('broken.ts', 'export const pass = ;\n');
    await expect(loadPassPlugin(broken)).rejects.toThrow(/cannot be loaded/);
    await expect(loadPassPlugin(join(dir, 'nope.ts'))).rejects.toThrow(/no such file/);
  });
});
