import type { Node } from '../ir/node.ts';
import type { Op } from '../ir/ops.ts';
import { prologueSteps } from '../ir/prologue.ts';
import { evalFused } from './reference-fused.ts';
import { evalNorm } from './reference-nn.ts';
import { evalAdaLN } from './reference-vdit.ts';
import { finish, type Ctx, type Val } from './reference-values.ts';

type Evaluator = (n: Node, src: readonly Val[], ctx: Ctx) => Val;

// the ops a producer chain can hold (ir/prologue.ts); each is evaluated by the evaluator of the unfused op
const STEP_EVAL: Partial<Record<Op, Evaluator>> = {
  layernorm: evalNorm, rmsnorm: evalNorm, modulate: evalAdaLN, fused: evalFused,
};

/**
 * The value v a token_scale / quantize with a producer prologue reads, from its operand values `src`. The chain
 * runs through the same evaluators as the unfused ops, so the fused graph equals the unfused one bit for bit.
 */
export function evalPrologue(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const known = new Map<Node, Val>(n.src.map((s, i) => [s, src[i]!]));
  const visit = (m: Node): Val => {
    const hit = known.get(m);
    if (hit) return hit;
    const f = STEP_EVAL[m.op];
    if (!f) throw new Error(`${n.op}: op ${m.op} cannot appear in a producer prologue`);
    const v = finish(f(m, m.src.map(visit), ctx), ctx);
    known.set(m, v);
    return v;
  };
  return visit(prologueSteps(n));
}
