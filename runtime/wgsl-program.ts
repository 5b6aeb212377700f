import { toposort, type Graph } from '../ir/graph.ts';
import { attr, type Node } from '../ir/node.ts';
import { formatType } from '../ir/types.ts';
import type { LowerContext } from '../targets/target.ts';
import type { KernelSpec } from '../targets/wgsl/kernel.ts';
import { storageBytes } from './buffers.ts';

/** A per-node lowering: one KernelSpec per non-leaf, non-reshape node (targets/wgsl/select.ts lowerNode). */
export type Lower = (n: Node, ctx: LowerContext) => KernelSpec;

/**
 * A buffer of the plan. `input`: uploaded every run; `param`: uploaded once from Weights; `const`: filled once
 * with the node's value; `temp`: an activation slot shared by values whose lifetimes do not overlap.
 */
export interface PlannedBuffer {
  readonly index: number;
  readonly kind: 'input' | 'param' | 'const' | 'temp';
  /** allocation size: the largest value it ever holds, at least 4 */
  readonly bytes: number;
  readonly label: string;
  /** the leaf node for input/param/const buffers */
  readonly leaf?: Node;
}

export interface WgslStep {
  readonly node: Node;
  readonly kernel: KernelSpec;
  /** buffer index per operand of `node`, in order */
  readonly inputBuffers: readonly number[];
  readonly outputBuffer: number;
}

export interface WgslProgram {
  readonly graph: Graph;
  readonly elem: 'f32' | 'f16';
  readonly buffers: readonly PlannedBuffer[];
  readonly steps: readonly WgslStep[];
  /** where each node's value lives; reshapes share their source's buffer */
  readonly bufferOf: ReadonlyMap<Node, number>;
  /** sum of temp buffer sizes, and what one buffer per value would have needed */
  readonly tempBytes: number;
  readonly unsharedTempBytes: number;
}

/** A shareable buffer while planning: its id and the largest value it has held so far. */
export interface Slot {
  index: number;
  bytes: number;
}

/** Lowers every node and assigns buffers: leaves get their own, activations share slots after their last use. */
export function planWgsl(g: Graph, ctx: LowerContext, lower: Lower): WgslProgram {
  const order = toposort(g);
  const root = (n: Node): Node => (n.op === 'reshape' ? root(n.src[0]!) : n);
  const lastUse = lastUses(order, g, root);
  const buffers: PlannedBuffer[] = [];
  const bufferOf = new Map<Node, number>();
  const free: Slot[] = [];
  const slots: Slot[] = [];
  const steps: WgslStep[] = [];
  let unshared = 0;
  order.forEach((n, i) => {
    if (n.op === 'reshape') {
      bufferOf.set(n, bufferOf.get(root(n))!);
      return;
    }
    const bytes = bindingBytes(n, ctx);
    if (n.op === 'input' || n.op === 'param' || n.op === 'const') {
      bufferOf.set(n, buffers.length);
      buffers.push({ index: buffers.length, kind: n.op, bytes, label: leafLabel(n), leaf: n });
      return;
    }
    const kernel = lower(n, ctx);
    checkDispatch(n, kernel, ctx);
    const slot = takeSlot(free, bytes) ?? newSlot(slots, -(slots.length + 1), bytes);
    bufferOf.set(n, slot.index);
    unshared += bytes;
    steps.push({ node: n, kernel, inputBuffers: n.src.map((s) => bufferOf.get(s)!), outputBuffer: slot.index });
    // operands are released only after the result took its slot, so a kernel never reads and writes one buffer
    for (const s of new Set(n.src.map(root))) {
      if (lastUse.get(s) === i) releaseSlot(s, slots, bufferOf, free);
    }
  });
  return finish(g, ctx.elem, buffers, slots, steps, bufferOf, unshared);
}

function finish(
  g: Graph, elem: 'f32' | 'f16', leaves: PlannedBuffer[], slots: Slot[], steps: WgslStep[],
  bufferOf: Map<Node, number>, unshared: number,
): WgslProgram {
  // during planning slot k is referenced as -(k + 1); temps are numbered after all leaves
  const buffers = [...leaves];
  for (const s of slots) {
    buffers.push({ index: buffers.length, kind: 'temp', bytes: s.bytes, label: `temp${-s.index - 1}` });
  }
  const fix = (b: number): number => (b < 0 ? leaves.length - b - 1 : b);
  for (const [n, b] of bufferOf) bufferOf.set(n, fix(b));
  const fixed = steps.map((s) => ({ ...s, inputBuffers: s.inputBuffers.map(fix), outputBuffer: fix(s.outputBuffer) }));
  const tempBytes = slots.reduce((a, s) => a + s.bytes, 0);
  return { graph: g, elem, buffers, steps: fixed, bufferOf, tempBytes, unsharedTempBytes: unshared };
}

/** Step index of each value's last reader; graph outputs live to the end. Keys are reshape roots. */
function lastUses(order: Node[], g: Graph, root: (n: Node) => Node): Map<Node, number> {
  const last = new Map<Node, number>();
  order.forEach((n, i) => {
    if (n.op === 'reshape') return;
    for (const s of n.src) last.set(root(s), i);
  });
  for (const o of g.outputs) last.set(root(o), Infinity);
  return last;
}

/** Best fit among free slots; otherwise grows the largest free one rather than open a new slot (also CUDA's plan). */
export function takeSlot(free: Slot[], bytes: number): Slot | undefined {
  if (!free.length) return undefined;
  let best = -1;
  for (let i = 0; i < free.length; i++) {
    const s = free[i]!;
    if (s.bytes >= bytes && (best < 0 || s.bytes < free[best]!.bytes)) best = i;
  }
  if (best < 0) {
    best = free.reduce((b, s, i) => (s.bytes > free[b]!.bytes ? i : b), 0);
    free[best]!.bytes = bytes;
  }
  return free.splice(best, 1)[0];
}

function newSlot(slots: Slot[], index: number, bytes: number): Slot {
  const s = { index, bytes };
  slots.push(s);
  return s;
}

function releaseSlot(n: Node, slots: Slot[], bufferOf: Map<Node, number>, free: Slot[]): void {
  const slot = slots.find((s) => s.index === bufferOf.get(n));
  if (slot) free.push(slot);
}

function bindingBytes(n: Node, ctx: LowerContext): number {
  const bytes = Math.max(4, storageBytes(n.type, ctx.elem));
  const max = ctx.caps.limits.maxStorageBufferBindingSize;
  if (bytes > max) {
    throw new Error(
      `${n.op} #${n.id} ${formatType(n.type)} needs ${(bytes / 2 ** 20).toFixed(1)} MiB, above the device's ` +
        `maxStorageBufferBindingSize ${(max / 2 ** 20).toFixed(1)} MiB; split it into smaller tensors`,
    );
  }
  return bytes;
}

function checkDispatch(n: Node, k: KernelSpec, ctx: LowerContext): void {
  const max = ctx.caps.limits.maxComputeWorkgroupsPerDimension;
  const ok = k.dispatch.length === 3 && k.dispatch.every((d) => Number.isInteger(d) && d >= 0 && d <= max);
  if (!ok) {
    throw new Error(
      `kernel ${k.name} for ${n.op} #${n.id} ${formatType(n.type)}: dispatch [${k.dispatch.join(', ')}] must be ` +
        `three integers in 0..${max} (maxComputeWorkgroupsPerDimension); fold large grids into y and z`,
    );
  }
}

function leafLabel(n: Node): string {
  return n.op === 'const' ? `const#${n.id}` : `${n.op}:${attr<string>(n, 'name', `#${n.id}`)}`;
}
