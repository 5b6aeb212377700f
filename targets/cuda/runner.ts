import { toposort, type Graph } from '../../ir/graph.ts';
import { attr, type Node } from '../../ir/node.ts';
import { CUDA_RUNNER_FORMAT, type CudaRunnerSpec, type CudaRunnerTensor } from '../../runtime/cuda-process.ts';
import { storageBytes } from '../../runtime/buffers.ts';
import { CUDA_HEADER, CUDA_HEADER_FILE } from './header.ts';
import type { CudaKernel } from './kernel.ts';
import { RUNNER_MAIN } from './runner-main.ts';

/** The parts of compiler/compile/emit-cuda.ts's CudaEmission the runner needs (steps as toposort positions). */
export interface RunnerEmission {
  readonly kernels: readonly CudaKernel[];
  readonly steps: readonly { readonly entry: string; readonly op: string; readonly node: number;
    readonly operands: readonly number[] }[];
}

/** runner.cu and what it expects on its pipes (runtime/cuda-process.ts). */
export interface CudaRunnerProgram {
  readonly source: string;
  readonly spec: CudaRunnerSpec;
}

interface RunnerBuffer {
  readonly label: string;
  /** storage bytes of the value (what crosses the pipe) */
  readonly size: number;
}

/**
 * Buffers like the WGSL executors' (runtime/wgsl-program.ts): a reshape shares its source's buffer (the views of
 * select.ts CUDA_NO_KERNEL), params and inputs get their own, and so does every value a step writes (consts too:
 * a fill kernel writes them). Unlike the WGSL plan, activations do not share slots: one buffer per value.
 */
function planBuffers(
  order: readonly Node[], e: RunnerEmission, g: Graph,
): { buffers: RunnerBuffer[]; bufferOf: (n: Node) => number } {
  const root = (n: Node): Node => (n.op === 'reshape' ? root(n.src[0]!) : n);
  const index = new Map<Node, number>();
  const buffers: RunnerBuffer[] = [];
  const use = (n: Node): void => {
    const r = root(n);
    if (index.has(r)) return;
    index.set(r, buffers.length);
    const leaf = r.op === 'param' || r.op === 'input';
    const label = leaf ? `${r.op} '${attr<string>(r, 'name')}'` : `${r.op}#${order.indexOf(r)}`;
    buffers.push({ label, size: storageBytes(r.type, 'f32') });
  };
  g.inputs.forEach(use);
  for (const s of e.steps) [...s.operands, s.node].forEach((p) => use(order[p]!));
  g.outputs.forEach(use);
  return { buffers, bufferOf: (n) => index.get(root(n))! };
}

function tensorOf(name: string, n: Node): CudaRunnerTensor {
  return { name, dtype: n.type.dtype, shape: [...n.type.shape], bytes: storageBytes(n.type, 'f32') };
}

const cString = (s: string): string => JSON.stringify(s);
// zero-length arrays are not C++: every table ends with a sentinel
const table = (type: string, name: string, items: readonly (string | number)[]): string =>
  `static const ${type} ${name}[] = {${[...items, type === 'int' ? -1 : type === 'size_t' ? 0 : '""'].join(', ')}};`;

/** One `case` per step: operands then the result, each cast to the kernel's parameter type. */
function stepFunction(order: readonly Node[], e: RunnerEmission, bufferOf: (n: Node) => number): string[] {
  const byEntry = new Map(e.kernels.map((k) => [k.entry, k]));
  const cases = e.steps.map((s, i) => {
    const k = byEntry.get(s.entry)!;
    const vals = [...s.operands, s.node].map((p) => order[p]!);
    if (k.params.length !== vals.length) {
      const at = `${s.op}#${s.node}`;
      throw new Error(`cuda runner: ${k.name} takes ${k.params.length} pointers, ${at} binds ${vals.length}`);
    }
    if (k.grid[1] !== 1 || k.grid[2] !== 1 || k.block[2] !== 1) {
      throw new Error(`cuda runner: ${k.name} has a 3-D launch`);
    }
    const args = vals.map((v, j) => `(${k.params[j]})buf[${bufferOf(v)}]`);
    const launch = `${k.entry}_ns::${k.entry}, ${k.grid[0]}u, ${k.block[0]}u, ${k.block[1]}u`;
    return `    case ${i}: VDIT_LAUNCH(${launch}, ${args.join(', ')}); break;`;
  });
  return ['static void step(int s) {', '  switch (s) {', ...cases, '    default: break;', '  }', '}'];
}

/**
 * runner.cu for a lowered graph and its CUDA emission: the shared header and every kernel in one translation unit,
 * the buffer and step tables, and the request loop of runner-main.ts. f32 storage only (the CUDA slice's floats).
 */
export function emitCudaRunner(g: Graph, e: RunnerEmission): CudaRunnerProgram {
  const order = toposort(g);
  const { buffers, bufferOf } = planBuffers(order, e, g);
  const paramNodes = order.filter((n) => n.op === 'param' && bufferOf(n) !== undefined);
  const byEntry = new Map(e.kernels.map((k) => [k.entry, k]));
  const stepNames = e.steps.map((s) => ({ name: byEntry.get(s.entry)!.name, node: `${s.op}#${s.node}`,
    ...(byEntry.get(s.entry)!.flops !== undefined ? { flops: byEntry.get(s.entry)!.flops! } : {}) }));
  const tables = [
    'namespace vdit_runner {',
    `constexpr int kBuffers = ${buffers.length};`,
    table('size_t', 'kSize', buffers.map((b) => `${b.size}u`)),
    table('size_t', 'kAlloc', buffers.map((b) => `${Math.max(4, b.size)}u`)),
    table('char* const', 'kLabels', buffers.map((b) => cString(b.label))),
    `constexpr int kParams = ${paramNodes.length};`,
    table('int', 'kParamBuf', paramNodes.map(bufferOf)),
    `constexpr int kInputs = ${g.inputs.length};`,
    table('int', 'kInputBuf', g.inputs.map(bufferOf)),
    `constexpr int kOutputs = ${g.outputs.length};`,
    table('int', 'kOutputBuf', g.outputs.map(bufferOf)),
    `constexpr int kSteps = ${e.steps.length};`,
    table('char* const', 'kStepNames', stepNames.map((s) => cString(`${s.name} ${s.node}`))),
    'static void* buf[kBuffers + 1];',
    ...stepFunction(order, e, bufferOf),
    '}  // namespace vdit_runner',
  ];
  const source = [
    `// generated by vdit: the CUDA runner of graph '${g.name}' (targets/cuda/runner.ts)`,
    '// protocol: runtime/cuda-process.ts',
    '#include <algorithm>', '#include <cstdint>', '#include <cstdio>', '#include <cstdlib>', '#include <cstring>',
    '#include <string>', '#include <utility>', '#include <vector>',
    '#ifndef VDIT_HOST_EMULATION', '#include <cuda_runtime.h>', '#endif',
    CUDA_HEADER.replace('#pragma once\n', ''),
    ...e.kernels.map((k) => k.source.replace(`#include "${CUDA_HEADER_FILE}"\n`, '')),
    ...tables,
    RUNNER_MAIN,
  ].join('\n');
  const spec: CudaRunnerSpec = {
    format: CUDA_RUNNER_FORMAT, graph: g.name,
    params: paramNodes.map((n) => tensorOf(attr<string>(n, 'name'), n)),
    inputs: g.inputs.map((n) => tensorOf(attr<string>(n, 'name'), n)),
    outputs: g.outputs.map((n, i) => tensorOf(`output${i}`, n)),
    steps: stepNames,
    deviceBytes: buffers.reduce((a, b) => a + Math.max(4, b.size), 0),
  };
  return { source, spec };
}
