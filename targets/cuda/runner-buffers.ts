import type { Graph } from '../../ir/graph.ts';
import { attr, type Node } from '../../ir/node.ts';
import { storageBytes } from '../../runtime/buffers.ts';
import type { CudaBufferPlan } from '../../runtime/cuda-process.ts';
import { takeSlot, type Slot } from '../../runtime/wgsl-program.ts';

/** The launches the plan reads: result and operands as toposort positions (compiler/compile/emit-cuda.ts). */
export interface PlannedStep {
  readonly node: number;
  readonly operands: readonly number[];
}

export interface RunnerBuffer {
  readonly label: string;
  readonly kind: 'input' | 'param' | 'output' | 'temp';
  /** storage bytes of the value (what crosses the pipe); a temp slot's: the largest value it holds */
  readonly size: number;
  /** cudaMalloc bytes: size, at least 4 */
  readonly alloc: number;
}

export interface RunnerBuffers {
  readonly buffers: readonly RunnerBuffer[];
  /** the buffer holding n's value (reshapes: their source's); undefined for values no launch touches */
  readonly bufferOf: (n: Node) => number | undefined;
  readonly plan: CudaBufferPlan;
}

const root = (n: Node): Node => (n.op === 'reshape' ? root(n.src[0]!) : n);

/**
 * Buffers of a runner.cu, planned like the WGSL executor's (runtime/wgsl-program.ts): inputs, params and graph
 * outputs keep their own buffer (uploads and readbacks address them, and `time` reruns the last inputs); every other
 * value a launch writes (consts too: a fill kernel writes them each forward) takes a shared slot from its launch to
 * its last reader. Launches on one stream run in order, so a slot is free for the next writer once its last reader
 * was launched; a launch never reads the slot it writes (operands are released after the result took its slot,
 * which the kernels' __restrict__ pointers require). A reshape aliases its source (select.ts CUDA_NO_KERNEL).
 */
export function planRunnerBuffers(order: readonly Node[], steps: readonly PlannedStep[], g: Graph): RunnerBuffers {
  const index = new Map<Node, number>();
  const buffers: RunnerBuffer[] = [];
  const own = (n: Node, kind: RunnerBuffer['kind']): void => {
    if (index.has(n)) return;
    index.set(n, buffers.length);
    const size = storageBytes(n.type, 'f32');
    const label = kind === 'input' || kind === 'param' ? `${n.op} '${attr<string>(n, 'name')}'` : `${n.op}#${order.indexOf(n)}`;
    buffers.push({ label, kind, size, alloc: Math.max(4, size) });
  };
  g.inputs.forEach((n) => own(n, 'input'));
  for (const s of steps) for (const p of s.operands) if (root(order[p]!).op === 'param') own(root(order[p]!), 'param');
  for (const o of g.outputs) own(root(o), root(o).op === 'param' ? 'param' : root(o).op === 'input' ? 'input' : 'output');
  const temps = assignSlots(order, steps, index);
  const leaves = buffers.length;
  for (const [n, k] of temps.bufferOf) index.set(n, leaves + k);
  temps.slots.forEach((s, k) => buffers.push({ label: `temp${k} (${s.values} values)`, kind: 'temp', size: s.bytes,
    alloc: s.bytes }));
  const sum = (kinds: readonly RunnerBuffer['kind'][]): number =>
    buffers.filter((b) => kinds.includes(b.kind)).reduce((a, b) => a + b.alloc, 0);
  const plan: CudaBufferPlan = {
    totalBytes: sum(['input', 'param', 'output', 'temp']), paramBytes: sum(['param']), ioBytes: sum(['input', 'output']),
    tempBytes: sum(['temp']), slots: temps.slots.length, unsharedTempBytes: temps.unshared,
  };
  return { buffers, bufferOf: (n) => index.get(root(n)), plan };
}

/** Temp values → slot numbers (0-based, in order of opening), by liveness over the launch order. */
function assignSlots(
  order: readonly Node[], steps: readonly PlannedStep[], owned: ReadonlyMap<Node, number>,
): { bufferOf: Map<Node, number>; slots: { bytes: number; values: number }[]; unshared: number } {
  const lastRead = new Map<Node, number>();
  steps.forEach((s, i) => s.operands.forEach((p) => lastRead.set(root(order[p]!), i)));
  const free: Slot[] = [];
  const slots: { bytes: number; values: number }[] = [];
  const bufferOf = new Map<Node, number>();
  let unshared = 0;
  const release = (n: Node): void => {
    const k = bufferOf.get(n);
    if (k !== undefined) free.push({ index: k, bytes: slots[k]!.bytes });
  };
  steps.forEach((s, i) => {
    const n = order[s.node]!;
    if (!owned.has(n)) {
      const bytes = Math.max(4, storageBytes(n.type, 'f32'));
      const slot = takeSlot(free, bytes) ?? { index: slots.length, bytes };
      if (slot.index === slots.length) slots.push({ bytes, values: 0 });
      slots[slot.index]!.bytes = Math.max(slots[slot.index]!.bytes, slot.bytes, bytes);
      slots[slot.index]!.values++;
      bufferOf.set(n, slot.index);
      unshared += bytes;
    }
    for (const o of new Set(s.operands.map((p) => root(order[p]!)))) if (lastRead.get(o) === i) release(o);
    if (!lastRead.has(n)) release(n);  // written, never read, not an output: its slot is free at once
  });
  return { bufferOf, slots, unshared };
}
