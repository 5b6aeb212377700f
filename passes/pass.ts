import type { Graph } from '../ir/index.ts';

/** Values a pass option can take; the same set the textual pipeline form can spell. */
export type OptionValue = string | number | boolean;
export type PassOptions = Readonly<Record<string, OptionValue>>;

/**
 * What a pass sees besides the graph. Passes keep no state of their own: options come in here and counters go
 * out through `stats`, keyed `<pass-name>.<counter>` (e.g. 'fuse-elementwise.kernels').
 */
export interface PassContext {
  readonly options: PassOptions;
  readonly stats: Map<string, number>;
}

/**
 * A named transformation over an immutable graph. `run` never mutates its input: it returns a new Graph, or the
 * very same object when nothing changed (so callers can test `g2 === g`).
 */
export interface Pass {
  readonly name: string;
  readonly description: string;
  run(g: Graph, ctx: PassContext): Graph;
}

const PASS_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

export interface PassSpec {
  readonly name: string;
  readonly description: string;
  readonly run: (g: Graph, ctx: PassContext) => Graph;
}

/** Checks the name (kebab-case: it is spelled in pipeline strings) and freezes the pass. */
export function definePass(spec: PassSpec): Pass {
  if (!PASS_NAME.test(spec.name)) throw new Error(`definePass: name '${spec.name}' must be kebab-case, e.g. 'my-pass'`);
  if (typeof spec.run !== 'function') throw new Error(`definePass(${spec.name}): run must be a function`);
  const run = spec.run;
  const { name, description } = spec;
  return Object.freeze({ name, description, run: (g: Graph, ctx: PassContext) => run(g, ctx) });
}

/** Shape check for values of unknown origin (plugins): a name string and a run function. */
export function isPass(v: unknown): v is Pass {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return typeof p['name'] === 'string' && typeof p['run'] === 'function';
}

export function createContext(options: PassOptions = {}, stats: Map<string, number> = new Map()): PassContext {
  return { options: Object.freeze({ ...options }), stats };
}

export function bumpStat(ctx: PassContext, key: string, by = 1): void {
  ctx.stats.set(key, (ctx.stats.get(key) ?? 0) + by);
}

export function numberOption(ctx: PassContext, pass: string, name: string, fallback: number): number {
  const v = ctx.options[name] ?? fallback;
  if (typeof v !== 'number') throw new Error(`${pass}: option ${name} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export function boolOption(ctx: PassContext, pass: string, name: string, fallback: boolean): boolean {
  const v = ctx.options[name] ?? fallback;
  if (typeof v !== 'boolean') throw new Error(`${pass}: option ${name} must be true or false, got ${String(v)}`);
  return v;
}

export function stringOption(ctx: PassContext, pass: string, name: string, fallback: string): string {
  const v = ctx.options[name] ?? fallback;
  if (typeof v !== 'string') throw new Error(`${pass}: option ${name} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Rejects options a pass does not know, so a typo in a pipeline string fails instead of being ignored. */
export function checkOptions(ctx: PassContext, pass: string, known: readonly string[]): void {
  for (const k of Object.keys(ctx.options)) {
    if (!known.includes(k)) {
      const list = known.length ? known.join(', ') : 'none';
      throw new Error(`${pass}: unknown option '${k}' (known options: ${list})`);
    }
  }
}
