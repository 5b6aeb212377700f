import { IRError } from './errors.ts';
import { graph, type Graph } from './graph.ts';
import type { Node } from './node.ts';
import { formatType } from './types.ts';

/*
 * Carried state: a value one forward of a denoiser hands to the next (e.g. an attention residual cached at a dense
 * step and reused at pruned ones, passes/prune-residual.ts). A graph carries C values when it has C inputs named
 * `carry.<key>`; its last C outputs are their next values, in the order of those inputs, each of its input's type.
 * The graph stays a pure function; whoever runs it in a loop (runtime/carry.ts) feeds each forward's carry outputs
 * back as the next forward's carry inputs.
 */

export const CARRY_PREFIX = 'carry.';

/** A graph input's name. */
const nameOf = (n: Node): string => String(n.attrs['name']);

/** The carry inputs, in graph input order. */
export function carryInputs(g: Graph): Node[] {
  return g.inputs.filter((n) => nameOf(n).startsWith(CARRY_PREFIX));
}

/** Each carry input with the output that holds its next value; throws when the outputs do not match them. */
export function carryPairs(g: Graph): { readonly input: Node; readonly output: number }[] {
  const ins = carryInputs(g);
  const first = g.outputs.length - ins.length;
  if (ins.length && first < 1) {
    throw new IRError(`graph '${g.name}': ${ins.length} carry inputs need ${ins.length} carry outputs after its own`);
  }
  return ins.map((input, i) => {
    const out = g.outputs[first + i]!;
    if (out.type.dtype !== input.type.dtype || out.type.shape.join() !== input.type.shape.join()) {
      throw new IRError(`graph '${g.name}': carry ${nameOf(input)} is ${formatType(input.type)} but output ` +
        `${first + i} (its next value) is ${formatType(out.type)}`);
    }
    return { input, output: first + i };
  });
}

/** The graph with carries added: `carry.<key>` inputs and their next values as outputs after the existing ones. */
export function withCarries(g: Graph, carries: readonly { readonly input: Node; readonly next: Node }[]): Graph {
  for (const c of carries) {
    if (c.input.op !== 'input' || !nameOf(c.input).startsWith(CARRY_PREFIX)) {
      throw new IRError(`a carry must be an input named ${CARRY_PREFIX}<key>, got ${c.input.op} '${nameOf(c.input)}'`);
    }
  }
  return graph(g.name, [...g.inputs, ...carries.map((c) => c.input)], [...g.outputs, ...carries.map((c) => c.next)]);
}
