/*
 * A worked example of a custom pass, loaded at run time as a plugin:
 *
 *   npx vdit inspect tiny --pass-plugin ./examples/my-pass.ts --passes "canonicalize,swap-gelu-tanh,fuse-elementwise"
 *
 * The pass swaps the GELU flavour: exact (erf) GELU becomes its tanh approximation, which is cheaper on GPUs that
 * lack erf; `swap-gelu-tanh{to=none}` goes the other way. It shows the pieces of the pass API:
 *   1. a rule table: `rule(name, pattern, rewrite)`, where rewrite returns the replacement node or undefined;
 *   2. `rewriteGraph`, the driver that applies the rules bottom-up to a fixed point and counts them in ctx.stats;
 *   3. `definePass`, which names the pass so pipeline strings can refer to it, and options read from ctx.
 */
import { node } from '../ir/index.ts';
import { any, checkOptions, definePass, pat, rewriteGraph, rule, stringOption, type Rule } from '../passes/index.ts';

type Approx = 'none' | 'tanh';

// Rules are data: a pattern over nodes, and a rewrite that builds the replacement. Nodes are immutable and
// hash-consed, so the rewrite makes a new node with node(); the driver rebuilds the users around it.
function swapRules(to: Approx): Rule[] {
  return [
    // gelu{approx≠to}(x) -> gelu{approx=to}(x); the attrs predicate leaves GELUs that are already `to` alone
    rule('gelu', pat('gelu', [any('x')], { attrs: (a) => (a['approx'] ?? 'none') !== to }), ({ x }) =>
      node('gelu', [x], { approx: to }),
    ),
  ];
}

// Export `pass` (or `passes: Pass[]`) so loadPassPlugin finds it. The pass holds no state: options arrive in
// ctx.options (from "swap-gelu-tanh{to=none}" in a pipeline string) and counters go to ctx.stats: each rule
// application is counted as 'swap-gelu-tanh.gelu'.
export const pass = definePass({
  name: 'swap-gelu-tanh',
  description: 'rewrite every GELU to the tanh approximation (option to=none: to the exact erf form)',
  run: (g, ctx) => {
    checkOptions(ctx, 'swap-gelu-tanh', ['to']);
    const to = stringOption(ctx, 'swap-gelu-tanh', 'to', 'tanh');
    if (to !== 'tanh' && to !== 'none') throw new Error(`swap-gelu-tanh: option to must be tanh or none, got ${to}`);
    // returns g itself when no rule matched, so callers can tell "unchanged" with ===
    return rewriteGraph(g, swapRules(to), ctx, { statPrefix: 'swap-gelu-tanh' });
  },
});
