import type { IToken } from 'chevrotain';
import { DTYPES, isDType } from './dtype.ts';
import { IRError } from './errors.ts';
import { graph, type Graph } from './graph.ts';
import { failAt, unquote } from './lexer.ts';
import { node, type Node } from './node.ts';
import { isLeaf } from './ops.ts';
import { attrsFromAst, opOf, parseGraphAst, type DefAst, type InputAst, type TypeAst } from './text-grammar.ts';
import { formatType, sameType, type TensorType } from './types.ts';

interface Binding {
  readonly node: Node;
  readonly at: IToken;
}
type Env = Map<string, Binding>;

// %12 names node 12; %x and %"x" both name input x, so "#12" and "x" never collide
function refKey(t: IToken): string {
  const body = t.image.slice(1);
  if (/^[0-9]+$/.test(body)) return `#${body}`;
  return body.startsWith('"') ? unquote({ ...t, image: body }) : body;
}

function define(env: Env, t: IToken, n: Node): void {
  const prev = env.get(refKey(t));
  if (prev) failAt(t, `${t.image} is already defined at ${prev.at.startLine}:${prev.at.startColumn}`);
  env.set(refKey(t), { node: n, at: t });
}

function lookup(env: Env, t: IToken): Node {
  const b = env.get(refKey(t));
  return b ? b.node : failAt(t, `undefined value ${t.image}`);
}

function typeOf(ast: TypeAst): TensorType {
  const d = ast.dtype.image;
  if (!isDType(d)) failAt(ast.dtype, `unknown dtype '${d}' (expected one of ${Object.keys(DTYPES).join(', ')})`);
  const shape = ast.dims.map((t) => {
    const v = Number(t.image);
    return Number.isInteger(v) && v >= 0 ? v : failAt(t, `dimension ${t.image} is not a non-negative integer`);
  });
  return { dtype: d, shape };
}

function buildInput(ast: InputAst): Node {
  const attrs = attrsFromAst(ast.attrs);
  const named = ast.attrs.find((a) => a.key.image === 'name');
  if (named) failAt(named.key, `an input's name comes from its reference ${ast.ref.image}`);
  return node('input', [], { ...attrs, name: refKey(ast.ref) }, typeOf(ast.type));
}

function buildDef(ast: DefAst, env: Env): Node {
  const op = opOf(ast.op);
  const attrs = attrsFromAst(ast.attrs);
  const declared = typeOf(ast.type);
  const src = ast.args.map((t) => lookup(env, t));
  if (isLeaf(op)) {
    if (src.length) failAt(ast.op, `${op} is a leaf and takes no operands, got ${src.length}`);
    return node(op, [], attrs, declared);
  }
  let n: Node;
  try {
    n = node(op, src, attrs);
  } catch (e) {
    if (e instanceof IRError) failAt(ast.op, e.message);
    throw e;
  }
  if (!sameType(n.type, declared)) {
    failAt(ast.type.dtype, `declared type ${formatType(declared)} but ${op} infers ${formatType(n.type)}`);
  }
  return n;
}

/**
 * Reads the text form written by print(). Values must be defined before use; nodes are built with node(), so a
 * non-leaf's declared type is checked against inference. Every problem is a ParseError at a 1-based line:column.
 */
export function parse(text: string): Graph {
  const ast = parseGraphAst(text);
  const env: Env = new Map();
  const inputs = ast.inputs.map((i) => {
    const n = buildInput(i);
    define(env, i.ref, n);
    return n;
  });
  for (const d of ast.body) define(env, d.ref, buildDef(d, env));
  const outputs = ast.outputs.map((t) => lookup(env, t));
  const name = ast.name.image.startsWith('"') ? unquote(ast.name) : ast.name.image;
  return graph(name, inputs, outputs);
}
