import { CARRY_PREFIX } from '../ir/carry.ts';
import type { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { toposort } from '../ir/graph.ts';
import { numel } from '../ir/types.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import { hashUniform } from './weights/init.ts';

/**
 * Seeded inputs for one denoiser forward: float inputs uniform in [-1, 1) (flow time `t` in [0, 1)), integer
 * inputs uniform over the table they index (class labels), so runs are reproducible from `--seed` alone. Carried
 * state (`carry.*`, ir/carry.ts) is zero: the state a sampler starts from.
 */
export function seededInputs(g: Graph, seed: number): Record<string, Tensor> {
  const bounds = indexBounds(g);
  const out: Record<string, Tensor> = {};
  g.inputs.forEach((inp, k) => {
    const name = inp.attrs['name'] as string;
    const n = numel(inp.type.shape);
    const u = (i: number): number => hashUniform(seed, 0x9e3779b9 ^ (k + 1), i);
    if (name.startsWith(CARRY_PREFIX)) {
      out[name] = tensor(inp.type, inp.type.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n));
    } else if (inp.type.dtype === 'i32') {
      const max = bounds.get(inp) ?? 10;
      out[name] = tensor(inp.type, Int32Array.from({ length: n }, (_, i) => Math.floor(u(i) * max)));
    } else if (inp.type.dtype === 'bool') {
      out[name] = tensor(inp.type, Uint8Array.from({ length: n }, (_, i) => (u(i) < 0.5 ? 1 : 0)));
    } else {
      const unit = name === 't';
      out[name] = tensor(inp.type, Float32Array.from({ length: n }, (_, i) => (unit ? u(i) : 2 * u(i) - 1)));
    }
  });
  return out;
}

/** For i32 inputs used as gather indices, the size of the gathered axis. */
function indexBounds(g: Graph): Map<Node, number> {
  const b = new Map<Node, number>();
  for (const n of toposort(g)) {
    if (n.op !== 'gather') continue;
    const axis = (n.attrs['axis'] as number | undefined) ?? 0;
    const table = n.src[0]!;
    const size = table.type.shape[axis < 0 ? axis + table.type.shape.length : axis]!;
    const idx = n.src[1]!;
    if (idx.op === 'input') b.set(idx, Math.min(b.get(idx) ?? size, size));
  }
  return b;
}
