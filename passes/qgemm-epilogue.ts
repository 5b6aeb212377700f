import { node, sameType, type Attrs, type Node } from '../ir/index.ts';
import { any, pat, rule, type Rule } from './pattern.ts';
import type { UseInfo } from './uses.ts';

/*
 * qgemm epilogue fusion (run by fuse-int4-gemm after the qgemm rules): the ops that read a qgemm result and
 * nothing else move into the qgemm's store, in the op's fixed order act → gate → residual (ir/ops.ts):
 *
 *   gelu{approx}(q)           → qgemm{act=gelu_tanh|gelu_erf}
 *   gate(q, g[B, N])          → qgemm{gate}(…, g)                      the adaLN-Zero gate (compiler/model/blocks.ts)
 *   add(r, q) or add(q, r)    → qgemm{residual}(…, r)                  r of q's type; add is commutative in IEEE
 *
 * Each rule needs q to have that one reader (else the unfused value is still needed and fusing would compute it
 * twice) and the later epilogue steps not yet taken (gelu after a gate is not act-then-gate).
 */

function epilogueOf(q: Node): { act: string; gate: boolean; residual: boolean } {
  return {
    act: (q.attrs['act'] as string | undefined) ?? 'none',
    gate: q.attrs['gate'] === true,
    residual: q.attrs['residual'] === true,
  };
}

/** The qgemm with one more epilogue step; operands stay in the order b?, g, r. */
function extend(q: Node, step: { act?: string; gate?: Node; residual?: Node }): Node {
  const e = epilogueOf(q);
  const tail = Number(e.gate) + Number(e.residual);
  const base = q.src.slice(0, q.src.length - tail);
  const g = step.gate ?? (e.gate ? q.src[base.length] : undefined);
  const r = step.residual ?? (e.residual ? q.src[q.src.length - 1] : undefined);
  const attrs: Record<string, string | number | boolean> = { ...(q.attrs as Record<string, number>) };
  if (step.act) attrs['act'] = step.act;
  if (g) attrs['gate'] = true;
  if (r) attrs['residual'] = true;
  return node('qgemm', [...base, ...(g ? [g] : []), ...(r ? [r] : [])], attrs as Attrs);
}

export function epilogueRules(uses: UseInfo): Rule[] {
  const soleReader = (q: Node, reader: Node): boolean => q.op === 'qgemm' && uses.isSoleReader(q, reader);
  const residualOf = (add: Node, i: number): Node | undefined => {
    const [q, r] = [add.src[i]!, add.src[1 - i]!];
    if (!soleReader(q, add) || epilogueOf(q).residual || r === q || !sameType(r.type, q.type)) return undefined;
    return sameType(add.type, q.type) ? extend(q, { residual: r }) : undefined;
  };
  return [
    // gelu(q) -> qgemm{act}: the activation after fc1
    rule('qgemm-gelu', pat('gelu', [any('q')]), ({ q }, n) => {
      const e = epilogueOf(q);
      if (!soleReader(q, n) || e.act !== 'none' || e.gate || e.residual) return undefined;
      return extend(q, { act: n.attrs['approx'] === 'tanh' ? 'gelu_tanh' : 'gelu_erf' });
    }),
    // gate(q, g) -> qgemm{gate}: the adaLN-Zero gate of attention proj and fc2
    rule('qgemm-gate', pat('gate', [any('q'), any('g')]), ({ q, g }, n) => {
      const e = epilogueOf(q);
      if (!soleReader(q, n) || e.gate || e.residual || g.type.dtype !== 'f32') return undefined;
      return extend(q, { gate: g });
    }),
    // add(r, q) -> qgemm{residual}: the residual stream x + block(x), as blocks.ts writes it (q second)
    rule('qgemm-residual', pat('add', [any('a'), any('b')]), (_, n) => residualOf(n, 1) ?? residualOf(n, 0)),
  ];
}
