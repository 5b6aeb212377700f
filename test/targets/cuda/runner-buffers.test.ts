import { describe, expect, it } from 'vitest';
import { emitCuda } from '../../../compiler/compile/emit-cuda.ts';
import { lowerQuantized } from '../../../compiler/compile/quant-build.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { toposort, type Graph } from '../../../ir/graph.ts';
import type { Node } from '../../../ir/node.ts';
import { DEFAULT_PIPELINE, parsePipeline, runPipeline } from '../../../passes/pipeline.ts';
import { builtinPasses } from '../../../passes/registry.ts';
import { storageBytes } from '../../../runtime/buffers.ts';
import { planRunnerBuffers } from '../../../targets/cuda/runner-buffers.ts';
import { narrowTinySmallClip } from '../../compiler/model/narrow-tiny.ts';
import { smallTextDiT } from './small-text-dit.ts';

const root = (n: Node): Node => (n.op === 'reshape' ? root(n.src[0]!) : n);

const fp = buildDiT(narrowTinySmallClip(2));
const builds: [string, Graph][] = [
  ['tiny w4a8', lowerQuantized(fp, seededWeights(fp, 3), 'w4a8').graph],
  ['text DiT f32', runPipeline(buildDiT(smallTextDiT()), parsePipeline(DEFAULT_PIPELINE, new Map(builtinPasses())), {}).graph],
];

describe.each(builds)('planRunnerBuffers (%s)', (_, g) => {
  const order = toposort(g);
  const { steps } = emitCuda(g);
  const { buffers, bufferOf, plan } = planRunnerBuffers(order, steps, g);

  it('every read finds the value its operand names: no slot is overwritten while its value is live', () => {
    const holds = new Map<number, Node>();
    for (const n of [...g.inputs, ...order.filter((x) => x.op === 'param')]) {
      if (bufferOf(n) !== undefined) holds.set(bufferOf(n)!, n);
    }
    for (const s of steps) {
      const out = bufferOf(order[s.node]!)!;
      for (const p of s.operands) {
        const b = bufferOf(order[p]!)!;
        expect(holds.get(b)).toBe(root(order[p]!));
        expect(b).not.toBe(out);  // __restrict__: a launch never reads the buffer it writes
      }
      holds.set(out, order[s.node]!);
    }
    for (const o of g.outputs) expect(holds.get(bufferOf(o)!)).toBe(root(o));
  });

  it('inputs, params and outputs keep their own buffer; slots fit every value they hold', () => {
    const own = [...g.inputs, ...g.outputs.map(root), ...order.filter((n) => n.op === 'param' && bufferOf(n) !== undefined)];
    expect(new Set(own.map((n) => bufferOf(n))).size).toBe(new Set(own).size);
    for (const n of own) expect(buffers[bufferOf(n)!]!.kind).not.toBe('temp');
    for (const s of steps) {
      const n = order[s.node]!;
      expect(buffers[bufferOf(n)!]!.alloc).toBeGreaterThanOrEqual(storageBytes(n.type, 'f32'));
    }
  });

  it('accounts every byte and shares activations', () => {
    expect(plan.totalBytes).toBe(buffers.reduce((a, b) => a + b.alloc, 0));
    expect(plan.paramBytes + plan.ioBytes + plan.tempBytes).toBe(plan.totalBytes);
    expect(plan.slots).toBe(buffers.filter((b) => b.kind === 'temp').length);
    expect(plan.slots).toBeLessThan(steps.length / 4);
    expect(plan.tempBytes).toBeLessThan(plan.unsharedTempBytes / 3);
  });
});
