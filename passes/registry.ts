import { GRAD_GUARD } from './autodiff/grad-guard.ts';
import { canonicalize } from './canonicalize.ts';
import { dce } from './dce.ts';
import { fuseElementwise } from './fuse-elementwise.ts';
import { fuseInt4Gemm } from './fuse-int4-gemm.ts';
import { insertQdq } from './insert-qdq.ts';
import type { Pass } from './pass.ts';

/** Pass name → pass; what parsePipeline resolves names against. */
export type PassRegistry = ReadonlyMap<string, Pass>;

/** `grad` is reserved (GRAD_GUARD): autodiff is the function passes/autodiff/grad.ts, not a pipeline step. */
export const BUILTIN_PASSES: readonly Pass[] = [canonicalize, dce, fuseElementwise, insertQdq, fuseInt4Gemm, GRAD_GUARD];

/** A fresh, caller-owned registry of the built-in passes (no global state: plugins go into the caller's copy). */
export function builtinPasses(): Map<string, Pass> {
  return new Map(BUILTIN_PASSES.map((p) => [p.name, p]));
}

/** Adds a pass; a different pass under a name already taken is an error (a plugin shadowing a built-in). */
export function registerPass(registry: Map<string, Pass>, pass: Pass): Map<string, Pass> {
  const prev = registry.get(pass.name);
  if (prev && prev !== pass) throw new Error(`pass '${pass.name}' is already registered`);
  registry.set(pass.name, pass);
  return registry;
}
