import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { emitCuda } from '../../compiler/compile/emit-cuda.ts';
import { graph } from '../../ir/graph.ts';
import { node } from '../../ir/node.ts';
import { buildCudaRunner } from '../../runtime/cuda-build.ts';
import { emitCudaRunner } from '../../targets/cuda/runner.ts';
import { GXX } from '../targets/cuda/emulate/emulate.ts';

const SHIM = join(dirname(fileURLToPath(import.meta.url)), '../targets/cuda/emulate/cuda-host.h');
const cache = mkdtempSync(join(tmpdir(), 'vdit-cuda-build-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

const x = node('input', [], { name: 'x' }, { dtype: 'f32', shape: [4] });
const g = graph('one', [x], [node('exp', [x])]);
const { source } = emitCudaRunner(g, emitCuda(g));

describe('buildCudaRunner', () => {
  it.skipIf(!GXX)('builds once per source: a second call reuses the cached executable', () => {
    const a = buildCudaRunner(source, { emulate: SHIM, cacheDir: cache });
    expect(buildCudaRunner(source, { emulate: SHIM, cacheDir: cache })).toBe(a);
    expect(buildCudaRunner(`${source}\n// another\n`, { emulate: SHIM, cacheDir: cache })).not.toBe(a);
  }, 120_000);


  it('says when nvcc is missing', () => {
    const was = process.env['NVCC'];
    process.env['NVCC'] = '/nonexistent/nvcc';
    try {
      expect(() => buildCudaRunner(source, { cacheDir: cache })).toThrow(/nvcc not found .*NVIDIA GPU/);
    } finally {
      if (was === undefined) delete process.env['NVCC'];
      else process.env['NVCC'] = was;
    }
  });

  it.skipIf(!GXX)('passes the compiler\'s diagnostics on', () => {
    expect(() => buildCudaRunner(`${source}\nint broken = ;\n`, { emulate: SHIM, cacheDir: cache }))
      .toThrow(/building the CUDA runner .* with g\+\+ failed:\n[^]*runner\.cu:\d+/);
  }, 120_000);
});
