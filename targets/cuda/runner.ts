import { toposort, type Graph } from '../../ir/graph.ts';
import { carryInputs, carryPairs } from '../../ir/carry.ts';
import { attr, type Node } from '../../ir/node.ts';
import { CUDA_RUNNER_FORMAT, type CudaRunnerSpec, type CudaRunnerTensor } from '../../runtime/cuda-process.ts';
import { storageBytes } from '../../runtime/buffers.ts';
import { CUDA_HEADER, CUDA_HEADER_FILE } from './header.ts';
import type { CudaKernel } from './kernel.ts';
import { planRunnerBuffers } from './runner-buffers.ts';
import { RUNNER_MAIN } from './runner-main.ts';
import { cudaScheduleRow } from './render.ts';
import { scheduleLiveness } from '../../runtime/schedule-liveness.ts';

/** The parts of compiler/compile/emit-cuda.ts's CudaEmission the runner needs (steps as toposort positions). */
export interface RunnerEmission {
  readonly kernels: readonly CudaKernel[];
  readonly steps: readonly { readonly entry: string; readonly op: string; readonly node: number;
    readonly operands: readonly number[]; readonly grid: readonly [number, number, number] }[];
}

/** runner.cu and what it expects on its pipes (runtime/cuda-process.ts). */
export interface CudaRunnerProgram {
  readonly source: string;
  readonly spec: CudaRunnerSpec;
}

function tensorOf(name: string, n: Node): CudaRunnerTensor {
  return { name, dtype: n.type.dtype, shape: [...n.type.shape], bytes: storageBytes(n.type, 'f32') };
}

const cString = (s: string): string => JSON.stringify(s);
// zero-length arrays are not C++: every table ends with a sentinel
const table = (type: string, name: string, items: readonly (string | number)[]): string =>
  `static const ${type} ${name}[] = {${[...items, type === 'int' ? -1 : type === 'size_t' ? 0 : '""'].join(', ')}};`;

/** One `case` per step: operands then the result, each cast to the kernel's parameter type. */
function stepFunction(order: readonly Node[], e: RunnerEmission, bufferOf: (n: Node) => number | undefined): string[] {
  const byEntry = new Map(e.kernels.map((k) => [k.entry, k]));
  const cases = e.steps.map((s, i) => {
    const k = byEntry.get(s.entry)!;
    const vals = [...s.operands, s.node].map((p) => order[p]!);
    if (k.params.length !== vals.length) {
      const at = `${s.op}#${s.node}`;
      throw new Error(`cuda runner: ${k.name} takes ${k.params.length} pointers, ${at} binds ${vals.length}`);
    }
    if (s.grid[1] !== 1 || s.grid[2] !== 1 || k.block[2] !== 1) {
      throw new Error(`cuda runner: ${k.name} has a 3-D launch`);
    }
    const args = vals.map((v, j) => `(${k.params[j]})buf[${bufferOf(v)}]`);
    // the step's own grid: the kernel's is its first use's, and one source serves e.g. norms of any row count
    const launch = `${k.entry}_ns::${k.entry}, ${s.grid[0]}u, ${k.block[0]}u, ${k.block[1]}u`;
    return `    case ${i}: VDIT_LAUNCH(${launch}, ${args.join(', ')}); break;`;
  });
  return ['static void step(int s) {', '  switch (s) {', ...cases, '    default: break;', '  }', '}'];
}

/**
 * Per carry, 1 where a step may swap its input and next-value buffers instead of copying: the next value has an
 * output buffer of its own, which no other carry names (a swap moves the pointer every launch reads at run time).
 */
function carrySwaps(
  g: Graph, carries: readonly { readonly input: Node; readonly output: number }[],
  buffers: readonly { readonly kind: string }[], bufferOf: (n: Node) => number | undefined,
): number[] {
  const named = carries.flatMap((c) => [bufferOf(c.input)!, bufferOf(g.outputs[c.output]!)!]);
  return carries.map((c) => {
    const [i, o] = [bufferOf(c.input)!, bufferOf(g.outputs[c.output]!)!];
    return i !== o && buffers[o]!.kind === 'output' && named.filter((b) => b === o).length === 1 ? 1 : 0;
  });
}

/** Ranges a launch mask can name (one bit each). */
const MAX_SKIP_ROWS = 64;

/**
 * The schedule tables: the timestep input's buffer (−1 without a schedule), the host twin of the kernels' range
 * function, and per launch the ranges in which nothing reads its value (runtime/schedule-liveness.ts): runner-main.ts
 * skips a launch when every timestep of the forward lies in such a range.
 */
function scheduleTables(
  g: Graph, order: readonly Node[], e: RunnerEmission, bufferOf: (n: Node) => number | undefined,
): string[] {
  const live = scheduleLiveness(g);
  const t = live && bufferOf(live.t);
  if (!live || t === undefined || live.bounds.length + 1 > MAX_SKIP_ROWS) {
    return ['constexpr int kSchedT = -1;', 'constexpr unsigned kSchedBatch = 0u;',
      'static unsigned sched_row(float) { return 0u; }', `static const unsigned long long kStepSkip[] = {${
        [...e.steps.map(() => '0ull'), '0ull'].join(', ')}};`];
  }
  const masks = e.steps.map((s) => {
    const needed = live.needed.get(order[s.node]!)!;
    return `0x${needed.reduce((m, yes, r) => (yes ? m : m | (1n << BigInt(r))), 0n).toString(16)}ull`;
  });
  return [`constexpr int kSchedT = ${t};`, `constexpr unsigned kSchedBatch = ${live.t.type.shape[0] ?? 1}u;`,
    `static unsigned sched_row(float tb) { return ${cudaScheduleRow('tb', live.bounds)}; }`,
    `static const unsigned long long kStepSkip[] = {${[...masks, '0ull'].join(', ')}};`];
}

/**
 * runner.cu for a lowered graph and its CUDA emission: the shared header and every kernel in one translation unit,
 * the buffer and step tables, and the request loop of runner-main.ts. f32 storage only (the CUDA slice's floats).
 */
export function emitCudaRunner(g: Graph, e: RunnerEmission): CudaRunnerProgram {
  const order = toposort(g);
  // a graph carries state when its carry.* inputs have next values among its outputs (ir/carry.ts); inputs so named
  // without them (a bench feeding a residual as data) are plain inputs, and `step` is refused for lack of carries
  const named = carryInputs(g).length;
  const carries = named && g.outputs.length > named ? carryPairs(g) : [];
  const fresh = g.inputs.filter((n) => !carries.some((c) => c.input === n));
  const { buffers, bufferOf, plan } = planRunnerBuffers(order, e.steps, g);
  const paramNodes = order.filter((n) => n.op === 'param' && bufferOf(n) !== undefined);
  const byEntry = new Map(e.kernels.map((k) => [k.entry, k]));
  const stepNames = e.steps.map((s) => ({ name: byEntry.get(s.entry)!.name, node: `${s.op}#${s.node}`,
    ...(byEntry.get(s.entry)!.flops !== undefined ? { flops: byEntry.get(s.entry)!.flops! } : {}) }));
  const tables = [
    'namespace vdit_runner {',
    `constexpr int kBuffers = ${buffers.length};`,
    table('size_t', 'kSize', buffers.map((b) => `${b.size}u`)),
    table('size_t', 'kAlloc', buffers.map((b) => `${b.alloc}u`)),
    table('char* const', 'kLabels', buffers.map((b) => cString(b.label))),
    `constexpr int kParams = ${paramNodes.length};`,
    table('int', 'kParamBuf', paramNodes.map((n) => bufferOf(n)!)),
    `constexpr int kInputs = ${g.inputs.length};`,
    table('int', 'kInputBuf', g.inputs.map((n) => bufferOf(n)!)),
    `constexpr int kOutputs = ${g.outputs.length};`,
    table('int', 'kOutputBuf', g.outputs.map((n) => bufferOf(n)!)),
    // carried state (ir/carry.ts) for the `step` request: the other inputs, and each carry's input and output buffers
    `constexpr int kFreshInputs = ${fresh.length};`,
    table('int', 'kFreshInputBuf', fresh.map((n) => bufferOf(n)!)),
    `constexpr int kCarries = ${carries.length};`,
    table('int', 'kCarryInBuf', carries.map((c) => bufferOf(c.input)!)),
    table('int', 'kCarryOutBuf', carries.map((c) => bufferOf(g.outputs[c.output]!)!)),
    table('int', 'kCarrySwap', carrySwaps(g, carries, buffers, bufferOf)),
    `constexpr int kSteps = ${e.steps.length};`,
    table('char* const', 'kStepNames', stepNames.map((s) => cString(`${s.name} ${s.node}`))),
    'static void* buf[kBuffers + 1];',
    ...scheduleTables(g, order, e, bufferOf),
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
    deviceBytes: plan.totalBytes,
    buffers: plan,
  };
  return { source, spec };
}
