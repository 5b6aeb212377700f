import {
  BINARY_OPS, hasPrologue, node, printExpr, UNARY_OPS, type Attrs, type Expr, type Node,
} from '../ir/index.ts';
import { prologueAttrs, type ProducerChain } from '../ir/prologue.ts';
import { any, pat, rule, type Rule } from './pattern.ts';
import type { UseInfo } from './uses.ts';

/*
 * Producer fusion of the per-token activation quantization (run by fuse-int4-gemm last): token_scale(x) and
 * quantize(x, Δ) whose x is a chain x0 → layernorm|rmsnorm? → modulate? → elementwise ops? (the adaLN
 * `modulate(layernorm(h))` before qkv and fc1, a GELU, ...) read the chain's operands instead of x, so x is never
 * written in f32 (ViDiT-Q's fused norm-quant kernels):
 *
 *   token_scale{bits}(modulate(layernorm{eps}(h), sh, sc))
 *     → token_scale{bits, norm="layernorm", eps, modulate=true}(h, sh, sc)
 *   quantize{bits}(x, Δ) → quantize{bits, <same chain attrs>}(h, sh, sc, Δ)
 *
 * The op's attrs and operand order are ir/prologue.ts. A chain step joins only when the step above is its one
 * reader, and the chain head x only when every reader of x is a token_scale or quantize (else x is materialised
 * anyway and recomputing the chain twice more would only cost). Elementwise steps are float unary/binary ops with
 * one operand of x's shape continuing the chain; the others become expr operands $1.. . Both ops keep one
 * workgroup per row on the GPU (targets/wgsl/kernels/quantize-prologue.ts): Δ and the i8 values are two dispatches
 * (a kernel writes one result), each recomputing the row's chain from h: 2 f32 reads of h instead of
 * norm, modulate, token_scale, quantize = 4 reads and 2 writes of an f32 activation.
 */

const CHAIN_EW = new Set<string>([...UNARY_OPS.filter((o) => o !== 'cast'), ...BINARY_OPS]);

interface ExprPart {
  readonly expr: Expr;
  /** the node $0 stands for, and the chain node reading it (undefined: $0 is x itself) */
  readonly below: Node;
  readonly reader: Node | undefined;
  readonly extras: readonly Node[];
}

/** The elementwise top of the chain as an expr over $0 (the rest of the chain) and $1.. (side operands). */
function exprPart(x: Node, uses: UseInfo): ExprPart {
  const extras: Node[] = [];
  const shape = x.type.shape.join();
  let [below, belowReader] = [x, undefined as Node | undefined];
  const visit = (n: Node, reader: Node | undefined): Expr => {
    const joins = CHAIN_EW.has(n.op) && n.src.every((s) => s.type.dtype === 'f32') && n.type.dtype === 'f32';
    const main = joins && (!reader || uses.isSoleReader(n, reader))
      ? n.src.findIndex((s) => s.type.shape.join() === shape) : -1;
    if (main < 0) {
      [below, belowReader] = [n, reader];
      return { kind: 'input', index: 0 };
    }
    const args = n.src.map((s, i): Expr => {
      if (i === main) return visit(s, n);
      const at = extras.indexOf(s);
      return { kind: 'input', index: 1 + (at >= 0 ? at : extras.push(s) - 1) };
    });
    return { kind: 'op', op: n.op, attrs: n.attrs, args };
  };
  const expr = visit(x, undefined);
  return { expr, below, reader: belowReader, extras };
}

/** Every reader of x is a plain token_scale / quantize of x, so x need not exist once they read its chain. */
function onlyQuantReaders(x: Node, uses: UseInfo): boolean {
  const readers = uses.usersOf(x);
  const o = uses.originOf(x);
  return readers.length > 0 && !uses.isOutput(x) && readers.every((u) =>
    (u.op === 'token_scale' || u.op === 'quantize') && u.src[0] === o && !u.src.slice(1).includes(o)
    && !hasPrologue(u.attrs));
}

/** The producer chain ending in x, or undefined when nothing before x can join the quantization. */
export function producerChain(x: Node, uses: UseInfo): ProducerChain | undefined {
  if (x.type.dtype !== 'f32' || !onlyQuantReaders(x, uses)) return undefined;
  const top = exprPart(x, uses);
  let [cur, above] = [top.below, top.reader];
  const joins = (n: Node): boolean => (above === undefined ? n === x : uses.isSoleReader(n, above));
  let modulate: ProducerChain['modulate'];
  if (cur.op === 'modulate' && joins(cur)) {
    modulate = { shift: cur.src[1]!, scale: cur.src[2]! };
    [above, cur] = [cur, cur.src[0]!];
  }
  let norm: ProducerChain['norm'];
  if ((cur.op === 'layernorm' || cur.op === 'rmsnorm') && joins(cur)) {
    norm = { op: cur.op, eps: cur.attrs['eps'] as number, affine: cur.src.slice(1) };
    cur = cur.src[0]!;
  }
  const hasExpr = top.expr.kind === 'op';
  if (!hasExpr && !modulate && !norm) return undefined;
  return {
    x: cur,
    ...(norm ? { norm } : {}),
    ...(modulate ? { modulate } : {}),
    ...(hasExpr ? { expr: { text: printExpr(top.expr), extras: top.extras } } : {}),
  };
}

/** op{bits, chain attrs}(chain operands, ...tail) */
function withChain(op: 'token_scale' | 'quantize', bits: Attrs, c: ProducerChain, tail: readonly Node[]): Node {
  const { attrs, operands } = prologueAttrs(c);
  return node(op, [...operands, ...tail], { ...bits, ...attrs });
}

export function prologueRules(uses: UseInfo): Rule[] {
  const plain = { attrs: (a: Attrs) => !hasPrologue(a) };
  return [
    // token_scale(chain(h)) -> token_scale{chain}(h, ...): the row absmax of a value never stored
    rule('token-scale-prologue', pat('token_scale', [any('x')], plain), ({ x }, n) => {
      const c = producerChain(x, uses);
      return c && withChain('token_scale', n.attrs, c, []);
    }),
    // quantize(chain(h), Δ) -> quantize{chain}(h, ..., Δ)
    rule('quantize-prologue', pat('quantize', [any('x'), any('d')], plain), ({ x, d }, n) => {
      const c = producerChain(x, uses);
      return c && withChain('quantize', n.attrs, c, [d]);
    }),
  ];
}
