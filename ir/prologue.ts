import { IRError } from './errors.ts';
import { hasPrologue } from './infer.ts';
import { node, type Node } from './node.ts';
import type { Attrs } from './ops.ts';

/*
 * The producer prologue of token_scale / quantize (ir/ops.ts): the op reads, instead of a materialised x, the value
 * of the chain x → norm? → modulate? → fused{expr}? over its own operands. This file is the one place that maps
 * between the attrs + operand list and the chain's parts; the CPU reference evaluates `prologueSteps`, the WGSL
 * kernel reads `prologueOperands`, and fuse-int4-gemm builds the attrs with `prologueAttrs`.
 */

export { hasPrologue } from './infer.ts';

/** The operands of a prologue op, by role (Δ only for quantize). */
export interface PrologueOperands {
  readonly x: Node;
  readonly affine: readonly Node[];
  readonly shift?: Node;
  readonly scale?: Node;
  readonly extras: readonly Node[];
  readonly delta?: Node;
}

/** The parts of a producer chain, as the pass finds them and prologueAttrs encodes them. */
export interface ProducerChain {
  readonly x: Node;
  readonly norm?: { readonly op: 'layernorm' | 'rmsnorm'; readonly eps: number; readonly affine: readonly Node[] };
  readonly modulate?: { readonly shift: Node; readonly scale: Node };
  readonly expr?: { readonly text: string; readonly extras: readonly Node[] };
}

export function prologueOperands(n: Node): PrologueOperands {
  if (!hasPrologue(n.attrs)) throw new IRError(`${n.op} #${n.id} has no producer prologue`);
  const src = n.op === 'quantize' ? n.src.slice(0, -1) : n.src;
  const affine = (n.attrs['affine'] as number | undefined) ?? 0;
  const mod = n.attrs['modulate'] === true;
  const at = 1 + affine;
  return {
    x: src[0]!,
    affine: src.slice(1, at),
    ...(mod ? { shift: src[at]!, scale: src[at + 1]! } : {}),
    extras: src.slice(at + (mod ? 2 : 0)),
    ...(n.op === 'quantize' ? { delta: n.src[n.src.length - 1]! } : {}),
  };
}

/** The chain as ordinary nodes over n's operands, ending in the value v the op reads. */
export function prologueSteps(n: Node): Node {
  const o = prologueOperands(n);
  const a = n.attrs;
  let v = o.x;
  if (a['norm'] !== undefined) v = node(a['norm'] as 'layernorm', [v, ...o.affine], { eps: a['eps'] as number });
  if (o.shift && o.scale) v = node('modulate', [v, o.shift, o.scale]);
  if (typeof a['expr'] === 'string') v = node('fused', [v, ...o.extras], { expr: a['expr'] });
  return v;
}

/** Attrs (beside bits) and chain operands of a prologue op reading `c`. */
export function prologueAttrs(c: ProducerChain): { attrs: Attrs; operands: Node[] } {
  const attrs: Record<string, string | number | boolean> = {};
  const operands: Node[] = [c.x];
  if (c.norm) {
    Object.assign(attrs, { norm: c.norm.op, eps: c.norm.eps });
    if (c.norm.affine.length) attrs['affine'] = c.norm.affine.length;
    operands.push(...c.norm.affine);
  }
  if (c.modulate) {
    attrs['modulate'] = true;
    operands.push(c.modulate.shift, c.modulate.scale);
  }
  if (c.expr) {
    attrs['expr'] = c.expr.text;
    operands.push(...c.expr.extras);
  }
  return { attrs, operands };
}
