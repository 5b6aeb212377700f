import { toposort, type Graph } from './graph.ts';
import { attrsText, type Node } from './node.ts';
import type { Attrs } from './ops.ts';
import { formatType } from './types.ts';

// names the lexer would read as a keyword or number must be quoted
const RESERVED = new Set(['graph', 'return', 'true', 'false', 'NaN', 'Infinity']);
const BARE_GRAPH_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BARE_INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

function braces(attrs: Attrs): string {
  const t = attrsText(attrs);
  return t ? `{${t}}` : '';
}

function nameOf(n: Node): string {
  const name = n.attrs['name'];
  return typeof name === 'string' ? name : `<unnamed ${n.op} #${n.id}>`;
}

/** `%x` for an input; quoted when the name is not a plain identifier (digits alone would read as a node number). */
export function inputRef(name: string): string {
  return BARE_INPUT_NAME.test(name) ? `%${name}` : `%${JSON.stringify(name)}`;
}

export function graphName(name: string): string {
  return BARE_GRAPH_NAME.test(name) && !RESERVED.has(name) ? name : JSON.stringify(name);
}

function withoutName(attrs: Attrs): Attrs {
  const rest: Record<string, Attrs[string]> = { ...attrs };
  delete rest['name'];
  return rest;
}

/**
 * The stable text form: inputs in the header by name, every other node `%N` in toposort order, attributes sorted.
 * `parse(print(g))` rebuilds the same graph and prints identically.
 */
export function print(g: Graph): string {
  const refs = new Map<Node, string>();
  const header: string[] = [];
  for (const i of g.inputs) {
    const ref = inputRef(nameOf(i));
    refs.set(i, ref);
    header.push(`${ref}: ${formatType(i.type)}${braces(withoutName(i.attrs))}`);
  }
  const lines = [`graph ${graphName(g.name)}(${header.join(', ')}) {`];
  let k = 0;
  for (const n of toposort(g)) {
    if (refs.has(n)) continue;
    const ref = `%${k++}`;
    refs.set(n, ref);
    const args = n.src.map((s) => refs.get(s)!).join(', ');
    lines.push(`  ${ref}: ${formatType(n.type)} = ${n.op}${braces(n.attrs)}(${args})`);
  }
  const outs = g.outputs.map((o) => refs.get(o)!).join(', ');
  lines.push(outs ? `  return ${outs}` : '  return', '}');
  return lines.join('\n');
}

function operandText(s: Node): string {
  const name = s.attrs['name'];
  return `${s.op}${typeof name === 'string' ? ` ${JSON.stringify(name)}` : ''}: ${formatType(s.type)}`;
}

/** One line for error messages: `f32[2,3] = linear(input "x": f32[2,4], param "w": f32[3,4])`. */
export function printNode(n: Node): string {
  return `${formatType(n.type)} = ${n.op}${braces(n.attrs)}(${n.src.map(operandText).join(', ')})`;
}
