import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DType } from '../../../ir/dtype.ts';
import { isE4m3Nan } from '../../../ir/fp8.ts';
import { mulberry32 } from '../../../compiler/data/prng.ts';
import type { Weights } from '../../../compiler/weights/weights.ts';
import { graph } from '../../../ir/graph.ts';
import { node, type Node } from '../../../ir/node.ts';
import { numel, type Shape } from '../../../ir/types.ts';
import { runReference } from '../../../runtime/reference.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { CUDA_HEADER, CUDA_HEADER_FILE } from '../../../targets/cuda/header.ts';
import type { CudaKernel } from '../../../targets/cuda/kernel.ts';
import { lowerCudaNode } from '../../../targets/cuda/select.ts';
import { DEFAULT_CAPS, type LowerContext } from '../../../targets/target.ts';
import { emulateKernel } from './emulate/emulate.ts';

/** nvcc where the CI image and this machine put it; tests that need it skip with this reason when absent. */
export const NVCC = ['/usr/local/bin/nvcc', '/usr/local/cuda/bin/nvcc'].find((p) => existsSync(p));
export const CTX: LowerContext = { elem: 'f32', caps: DEFAULT_CAPS };

/** A seeded stream of uniform values in [0, 1). */
export const rng = (seed: number): (() => number) => mulberry32(seed >>> 0).next;

/** n e4m3 codes drawn uniformly from the 254 that are not NaN, as signed bytes. */
export function randomCodes(r: () => number, n: number): Int8Array {
  return Int8Array.from({ length: n }, () => {
    let c = Math.floor(r() * 256);
    while (isE4m3Nan(c)) c = Math.floor(r() * 256);
    return (c << 24) >> 24;
  });
}

/** An f32 tensor of uniform values in [lo, hi) drawn from r. */
export const f32 = (r: () => number, shape: Shape, lo = -2, hi = 2): Tensor =>
  tensor({ dtype: 'f32', shape }, Float32Array.from({ length: numel(shape) }, () => lo + r() * (hi - lo)));

export function input(name: string, dtype: DType, shape: Shape): Node {
  return node('input', [], { name }, { dtype, shape });
}

/**
 * Compiles kernels as ONE translation unit with `nvcc -arch=sm_90a -c -Werror all-warnings` (one nvcc start: the
 * CI machine has 2 cores); throws with nvcc's diagnostics. Identical kernels (same entry) are included once.
 */
export function nvccCompile(kernels: readonly CudaKernel[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'vdit-cuda-'));
  try {
    const byEntry = new Map(kernels.map((k) => [k.entry, k.source]));
    writeFileSync(join(dir, CUDA_HEADER_FILE), CUDA_HEADER);
    writeFileSync(join(dir, 'all.cu'), [...byEntry.values()].join('\n'));
    execFileSync(NVCC!, ['-arch=sm_90a', '-std=c++17', '-c', 'all.cu', '-o', 'all.o', '-Werror', 'all-warnings'], {
      cwd: dir, stdio: 'pipe', timeout: 300_000,
    });
  } catch (err) {
    const e = err as { stderr?: Buffer };
    throw new Error(`nvcc failed:\n${e.stderr?.toString().slice(0, 4000) ?? String(err)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');

/** The golden text of `name` (test/targets/cuda/golden/<name>.cu); `UPDATE_GOLDEN=1` rewrites it. */
export function golden(name: string, text: string): string {
  const file = join(GOLDEN, `${name}.cu`);
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, text);
  if (!existsSync(file)) throw new Error(`no golden ${file}: run npm run golden:update and review the diff`);
  return readFileSync(file, 'utf8');
}

const NO_WEIGHTS: Weights = { get: () => undefined, names: () => [] };

/** The node evaluated by the CPU reference; operands must be `input` leaves named in `inputs`. */
export function reference(n: Node, inputs: Record<string, Tensor>): Tensor {
  const leaves = n.src.filter((s, i) => n.src.indexOf(s) === i);
  return runReference(graph('t', leaves, [n]), inputs, NO_WEIGHTS)[0]!;
}

/**
 * n's CUDA kernel run by the g++ emulation (emulate/emulate.ts) on `inputs` (by operand name) against the CPU
 * reference: the largest error relative to max(1, |reference|), and the reference itself.
 */
export function emulatedError(n: Node, inputs: Record<string, Tensor>, work: string): { worst: number; want: Tensor } {
  const operands = n.src.map((s) => inputs[s.attrs['name'] as string]!);
  const got = emulateKernel(lowerCudaNode(n, CTX), n, operands, work);
  const want = reference(n, inputs);
  if (got.data.length !== want.data.length) throw new Error(`emulated ${got.data.length} values, reference ${want.data.length}`);
  let worst = 0;
  want.data.forEach((w, i) => {
    worst = Math.max(worst, Math.abs(Number(got.data[i]) - Number(w)) / Math.max(1, Math.abs(Number(w))));
  });
  return { worst, want };
}
