import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isPass, type Pass } from './pass.ts';

const EXPECTED = 'expected export const pass = definePass({...})';

function passesOf(mod: Record<string, unknown>, path: string): Pass[] {
  const list = mod['passes'];
  if (list !== undefined) {
    if (!Array.isArray(list)) throw new Error(`plugin ${path}: export 'passes' must be an array of passes`);
    list.forEach((p, i) => {
      if (!isPass(p)) throw new Error(`plugin ${path}: passes[${i}] is not a pass (needs a name string and run())`);
    });
    return list as Pass[];
  }
  if (mod['pass'] !== undefined) {
    if (!isPass(mod['pass'])) throw new Error(`plugin ${path}: export 'pass' is not a pass (needs a name and run())`);
    return [mod['pass']];
  }
  // any other named exports that look like passes (default exports are not part of the contract)
  return Object.entries(mod)
    .filter(([k, v]) => k !== 'default' && isPass(v))
    .map(([, v]) => v as Pass);
}

/**
 * Loads pass plugins from a .ts or .js module: `export const passes = [...]`, `export const pass = ...`, or named
 * exports that are passes. Relative paths are resolved against the working directory. TypeScript plugins need a
 * TypeScript-aware loader (the vdit CLI runs under tsx; vitest handles them too).
 */
export async function loadPassPlugin(path: string): Promise<Pass[]> {
  const file = resolve(path);
  if (!existsSync(file)) throw new Error(`plugin ${path}: no such file (${file})`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`plugin ${path}: cannot be loaded: ${msg}`, { cause: e });
  }
  const passes = passesOf(mod, path);
  if (passes.length === 0) throw new Error(`plugin ${path} exports no pass (${EXPECTED})`);
  const names = new Set<string>();
  for (const p of passes) {
    if (names.has(p.name)) throw new Error(`plugin ${path}: two passes are named '${p.name}'`);
    names.add(p.name);
  }
  return passes;
}
