import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Node } from '../../../../ir/node.ts';
import { decodeTensor, encodeTensor, storageBytes } from '../../../../runtime/buffers.ts';
import type { Tensor } from '../../../../runtime/tensor.ts';
import { CUDA_HEADER, CUDA_HEADER_FILE } from '../../../../targets/cuda/header.ts';
import type { CudaKernel } from '../../../../targets/cuda/kernel.ts';

/** g++ (C++20 for std::barrier); tests that emulate kernels skip with this reason when absent. */
export const GXX = ['/usr/bin/g++', '/usr/local/bin/g++'].find((p) => existsSync(p));
const SHIM = join(dirname(fileURLToPath(import.meta.url)), 'cuda-host.h');

/** The host program: operands from in<i>.bin in launch order, the grid run block by block, the result to y.bin. */
function hostMain(k: CudaKernel, operandBytes: readonly number[], outBytes: number): string {
  const reads = operandBytes.map((bytes, i) => [
    `  std::vector<unsigned char> in${i}(${bytes} + 4);`,
    `  { FILE* f = std::fopen("in${i}.bin", "rb"); if (std::fread(in${i}.data(), 1, ${bytes}, f) != ${bytes}) return 1; std::fclose(f); }`,
  ].join('\n'));
  const args = [...operandBytes.map((_, i) => `(${k.params[i]})in${i}.data()`), `(${k.params.at(-1)})y.data()`];
  return [
    `#include "${SHIM}"`,
    '#include <cstdio>',
    '#include <thread>',
    '#include <vector>',
    '#include "kernel.cu"',
    'int main() {',
    ...reads,
    `  std::vector<unsigned char> y(${outBytes} + 4);`,
    `  blockDim.x = ${k.block[0]};`,
    `  for (unsigned bx = 0; bx < ${k.grid[0]}u; ++bx) {`,
    '    blockIdx.x = bx;',
    `    std::barrier<> bar(${k.block[0]});`,
    '    vdit_block_barrier = &bar;',
    '    std::vector<std::thread> ts;',
    `    for (unsigned t = 0; t < ${k.block[0]}u; ++t) ts.emplace_back([&, t] { threadIdx.x = t;`,
    `      ${k.entry}_ns::${k.entry}(${args.join(', ')}); });`,
    '    for (auto& th : ts) th.join();',
    '  }',
    `  FILE* f = std::fopen("y.bin", "wb"); std::fwrite(y.data(), 1, ${outBytes}, f); std::fclose(f);`,
    '  return 0;',
    '}',
  ].join('\n');
}

/**
 * Runs kernel `k` (lowered from `n`) on the CPU: g++ compiles its own source against cuda-host.h; operands are the
 * `inputs` in n's operand order, encoded as the runtime stores them (runtime/buffers.ts), and so is the result.
 */
export function emulateKernel(k: CudaKernel, n: Node, inputs: readonly Tensor[], work: string): Tensor {
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, CUDA_HEADER_FILE), CUDA_HEADER);
  writeFileSync(join(work, 'kernel.cu'), k.source);
  const sizes = inputs.map((t, i) => {
    const bytes = encodeTensor(t, 'f32');
    writeFileSync(join(work, `in${i}.bin`), new Uint8Array(bytes));
    return bytes.byteLength;
  });
  const outBytes = storageBytes(n.type, 'f32');
  writeFileSync(join(work, 'main.cpp'), hostMain(k, sizes, outBytes));
  try {
    execFileSync(GXX!, ['-std=c++20', '-O1', '-ffp-contract=off', '-DVDIT_HOST_EMULATION', '-w', '-x', 'c++', 'main.cpp',
      '-o', 'main', '-pthread'], { cwd: work, stdio: 'pipe', timeout: 120_000 });
  } catch (err) {
    throw new Error(`g++ failed on ${k.name}:\n${(err as { stderr?: Buffer }).stderr?.toString().slice(0, 3000)}`);
  }
  execFileSync(join(work, 'main'), [], { cwd: work, stdio: 'pipe', timeout: 120_000 });
  const buf = readFileSync(join(work, 'y.bin'));
  return decodeTensor(n.type, buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), 'f32');
}
