import { definePass, type Pass } from '../pass.ts';

/**
 * `grad` changes what a graph computes (its outputs become [loss, gradients...]), so it is a function to call,
 * not a pass: this placeholder takes the name in the built-in registry so that a pipeline string naming it fails loudly
 * instead of resolving to a plugin or silently doing nothing.
 */
export const GRAD_GUARD: Pass = definePass({
  name: 'grad',
  description: 'reserved: reverse-mode autodiff is the function grad(g, { wrt }) in passes/autodiff/grad.ts',
  run: () => {
    throw new Error("'grad' is not a pipeline pass: call grad(g, { loss, wrt }) from passes/autodiff/grad.ts");
  },
});
