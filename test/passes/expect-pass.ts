import { expect } from 'vitest';
import { parse, print, verify, type Graph } from '../../ir/index.ts';
import { createContext, type Pass, type PassOptions } from '../../passes/index.ts';

/** Strips the common indentation of a template literal so IR can be written indented in tests. */
export function ir(text: string): string {
  const lines = text.replace(/^\n/, '').trimEnd().split('\n');
  const pad = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(pad)).join('\n');
}

/** TVM-style Before/After: parse, verify, run the pass, verify, compare printed IR. Returns the pass stats. */
export function expectPass(pass: Pass, before: string, after: string, options: PassOptions = {}): Map<string, number> {
  const g = parse(ir(before));
  verify(g);
  const printedBefore = print(g);
  const ctx = createContext(options);
  const out = pass.run(g, ctx);
  verify(out);
  expect(print(out)).toBe(ir(after));
  expect(print(g)).toBe(printedBefore); // the input graph is untouched
  return ctx.stats;
}

export function runPass(pass: Pass, g: Graph, options: PassOptions = {}): { graph: Graph; stats: Map<string, number> } {
  const ctx = createContext(options);
  const out = pass.run(g, ctx);
  verify(out);
  return { graph: out, stats: ctx.stats };
}
