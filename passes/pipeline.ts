import { IRError, ParseError, type Graph } from '../ir/index.ts';
import { createContext, type OptionValue, type Pass } from './pass.ts';
import type { PassRegistry } from './registry.ts';

/** A pass with the options written after its name; `column` (1-based) points at the name in the source text. */
export interface PassInvocation {
  readonly pass: Pass;
  readonly options: Readonly<Record<string, OptionValue>>;
  readonly column: number;
}

export const DEFAULT_PIPELINE = 'canonicalize,dce,fuse-elementwise';

/*
 * pipeline := (item (',' item)*)?       item := NAME ('{' (opt (',' opt)*)? '}')?       opt := KEY '=' value
 * value    := number | true | false | bare-word | "quoted" | 'quoted'
 * Whitespace is allowed between tokens. Hand-written: pass names contain '-', which the IR lexer rejects.
 */
const NAME = /[a-z][a-z0-9]*(?:-[a-z0-9]+)*/y;
const KEY = /[A-Za-z_][A-Za-z0-9_-]*/y;
const NUMBER = /[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.-])/y;
const BARE = /[A-Za-z0-9_.\/+-]+/y;
const QUOTED = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'/y;

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}
  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  peek(): string | undefined {
    this.skipSpace();
    return this.text[this.pos];
  }
  take(re: RegExp): string | undefined {
    this.skipSpace();
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }
  fail(msg: string, at = this.pos): never {
    throw new ParseError(`pipeline: ${msg}`, 1, at + 1);
  }
  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected '${ch}' but found ${this.found()}`);
    this.pos++;
  }
  found(): string {
    const c = this.peek();
    return c === undefined ? 'end of input' : `'${c}'`;
  }
}

function parseValue(c: Cursor): OptionValue {
  const q = c.peek() === '"' || c.peek() === "'" ? c.take(QUOTED) : undefined;
  if (q !== undefined) return q.slice(1, -1).replace(/\\(.)/g, '$1');
  if (c.peek() === '"' || c.peek() === "'") c.fail('unterminated string');
  const num = c.take(NUMBER);
  if (num !== undefined) return Number(num);
  const word = c.take(BARE);
  if (word === undefined) c.fail(`expected an option value but found ${c.found()}`);
  return word === 'true' ? true : word === 'false' ? false : word;
}

function parseOptions(c: Cursor, passName: string): Record<string, OptionValue> {
  const opts: Record<string, OptionValue> = {};
  c.expect('{');
  if (c.peek() === '}') {
    c.pos++;
    return opts;
  }
  for (;;) {
    c.skipSpace();
    const at = c.pos;
    const key = c.take(KEY);
    if (key === undefined) c.fail(`expected an option name for ${passName} but found ${c.found()}`);
    if (Object.hasOwn(opts, key)) c.fail(`option '${key}' of ${passName} given twice`, at);
    c.expect('=');
    opts[key] = parseValue(c);
    if (c.peek() === '}') break;
    c.expect(',');
  }
  c.pos++;
  return opts;
}

function unknownPass(c: Cursor, name: string, at: number, registry: PassRegistry): never {
  const known = [...registry.keys()].sort().join(', ') || 'none';
  c.fail(`unknown pass '${name}' (known passes: ${known})`, at);
}

/** Parses `"canonicalize,dce,fuse-elementwise{min-ops=2}"`; errors are ParseErrors at 1:column. Empty text is []. */
export function parsePipeline(text: string, registry: PassRegistry): PassInvocation[] {
  const c: Cursor = new Cursor(text);
  const out: PassInvocation[] = [];
  if (c.peek() === undefined) return out;
  for (;;) {
    c.skipSpace();
    const at = c.pos;
    const name = c.take(NAME);
    if (name === undefined) c.fail(`expected a pass name but found ${c.found()}`);
    // a name followed by more name-like characters (e.g. 'My_Pass') is not a pass name at all
    if (/[A-Za-z0-9_]/.test(text[c.pos] ?? '')) c.fail(`invalid pass name '${name}${text[c.pos]}...'`, at);
    const pass = registry.get(name) ?? unknownPass(c, name, at, registry);
    const options = c.peek() === '{' ? parseOptions(c, name) : {};
    out.push(Object.freeze({ pass, options: Object.freeze(options), column: at + 1 }));
    if (c.peek() === undefined) return out;
    c.expect(',');
  }
}

/** Text form of a parsed pipeline; parsePipeline(formatPipeline(p)) gives back p. */
export function formatPipeline(p: readonly PassInvocation[]): string {
  const value = (v: OptionValue): string =>
    typeof v === 'string' && !/^[A-Za-z_][A-Za-z0-9_.\/-]*$/.test(v) ? JSON.stringify(v) : String(v);
  return p
    .map(({ pass, options }) => {
      const o = Object.entries(options).map(([k, v]) => `${k}=${value(v)}`);
      return o.length ? `${pass.name}{${o.join(',')}}` : pass.name;
    })
    .join(',');
}

export interface RunPipelineOptions {
  /** called after every pass (e.g. ir/verify.ts); its error is rethrown naming the pass */
  readonly verify?: (g: Graph) => void;
  readonly onAfter?: (passName: string, g: Graph) => void;
  /** counters to add to; a fresh map when left out */
  readonly stats?: Map<string, number>;
}

export interface PipelineResult {
  readonly graph: Graph;
  readonly stats: Map<string, number>;
}

function asInvocation(p: Pass | PassInvocation): PassInvocation {
  return 'pass' in p ? p : { pass: p, options: {}, column: 0 };
}

/** Runs the passes in order over one shared stats map; each pass sees only its own options. */
export function runPipeline(
  g: Graph,
  pipeline: readonly (Pass | PassInvocation)[],
  opts: RunPipelineOptions = {},
): PipelineResult {
  const stats = opts.stats ?? new Map<string, number>();
  let cur = g;
  for (const { pass, options } of pipeline.map(asInvocation)) {
    const next = pass.run(cur, createContext(options, stats));
    if (!next || !Array.isArray(next.outputs) || !Array.isArray(next.inputs)) {
      throw new IRError(`pass ${pass.name} returned ${String(next)} instead of a Graph`);
    }
    if (opts.verify) {
      try {
        opts.verify(next);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new IRError(`verification failed after pass ${pass.name}: ${msg}`, { cause: e });
      }
    }
    opts.onAfter?.(pass.name, next);
    cur = next;
  }
  return { graph: cur, stats };
}
