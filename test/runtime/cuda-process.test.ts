import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { emitCuda } from '../../compiler/compile/emit-cuda.ts';
import { graph } from '../../ir/graph.ts';
import { node } from '../../ir/node.ts';
import { encodeTensor } from '../../runtime/buffers.ts';
import { buildCudaRunner } from '../../runtime/cuda-build.ts';
import { CudaProcess, type CudaRunnerSpec } from '../../runtime/cuda-process.ts';
import { tensor } from '../../runtime/tensor.ts';
import { emitCudaRunner } from '../../targets/cuda/runner.ts';
import { GXX } from '../targets/cuda/emulate/emulate.ts';

const SHIM = join(dirname(fileURLToPath(import.meta.url)), '../targets/cuda/emulate/cuda-host.h');
const cache = mkdtempSync(join(tmpdir(), 'vdit-cuda-process-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

// y = reshape(exp(x) + w): a param, a kernel, and a view as the output
const x = node('input', [], { name: 'x' }, { dtype: 'f32', shape: [2, 3] });
const w = node('param', [], { name: 'w' }, { dtype: 'f32', shape: [3] });
const g = graph('tiny', [x], [node('reshape', [node('add', [node('exp', [x]), w])], { shape: [6] })]);
const { source, spec } = emitCudaRunner(g, emitCuda(g));
const bytes = (data: number[], shape: number[]): Uint8Array =>
  new Uint8Array(encodeTensor(tensor({ dtype: 'f32', shape }, Float32Array.from(data)), 'f32'));

describe.skipIf(!GXX)('CudaProcess over the emulated runner (needs g++)', () => {
  const start = (s: CudaRunnerSpec = spec, timeoutMs = 60_000): Promise<CudaProcess> =>
    CudaProcess.start(buildCudaRunner(source, { emulate: SHIM, cacheDir: cache }), s, { timeoutMs });

  it('answers a forward: exp(x) + w through a reshape view', async () => {
    const p = await start();
    await p.uploadParams(() => bytes([0.5, -1, 2], [3]));
    const xs = [0.1, -0.2, 0.3, 1.5, -1.25, 0.75];
    const [out] = await p.forward([bytes(xs, [2, 3])]);
    const got = Array.from(new Float32Array(out!.slice().buffer));
    xs.forEach((v, i) => expect(got[i]).toBeCloseTo(Math.exp(v) + [0.5, -1, 2][i % 3]!, 5));
    p.close();
  }, 120_000);

  it('a request the child refuses comes back as its message, and the child keeps serving', async () => {
    // a spec that lies about x's size gets past the Node-side check; the child checks against its own tables
    const lying = { ...spec, inputs: [{ ...spec.inputs[0]!, bytes: 28 }] };
    const p = await start(lying);
    await expect(p.forward([bytes([1, 2, 3, 4, 5, 6, 7], [7])])).rejects.toThrow(/forward before the params/);
    await p.uploadParams(() => bytes([0, 0, 0], [3]));
    await expect(p.time(0, 1)).rejects.toThrow(/time before a forward/);
    await expect(p.forward([bytes([1, 2, 3, 4, 5, 6, 7], [7])])).rejects.toThrow(/input 'x': 28 bytes sent, its storage is 24/);
    const p2 = await start();
    await p2.uploadParams(() => bytes([0, 0, 0], [3]));
    expect(await p2.forward([bytes([0, 0, 0, 0, 0, 0], [2, 3])])).toHaveLength(1);
    p.close();
    p2.close();
  }, 120_000);

  it('a request past the timeout kills the child with a clear error', async () => {
    const p = await start(spec, 300);
    await p.uploadParams(() => bytes([0, 0, 0], [3]));
    await p.forward([bytes([0, 0, 0, 0, 0, 0], [2, 3])]);
    await expect(p.time(0, 1_000_000)).rejects.toThrow(/no answer to 'time' within 0.3 s: killed it/);
    await expect(p.forward([bytes([0, 0, 0, 0, 0, 0], [2, 3])])).rejects.toThrow(/killed it/);
  }, 120_000);

  it('checks part counts and sizes against the spec before writing', async () => {
    const p = await start();
    await expect(p.forward([])).rejects.toThrow(/runner takes 1 inputs, got 0/);
    await expect(p.uploadParams(() => bytes([1, 2], [2]))).rejects.toThrow(/param 'w' f32\[3\]: expected 12 bytes, got 8/);
    p.close();
  }, 120_000);
});
