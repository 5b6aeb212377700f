import { describe, expect, it } from 'vitest';
import { graph, IRError, node, ParseError, parse, print, tensorType, verify } from '../../ir/index.ts';
import {
  builtinPasses, DEFAULT_PIPELINE, definePass, formatPipeline, parsePipeline, registerPass, runPipeline,
} from '../../passes/index.ts';
import { ir } from './expect-pass.ts';

const registry = builtinPasses();

function parseError(text: string): ParseError {
  try {
    parsePipeline(text, registry);
  } catch (e) {
    if (e instanceof ParseError) return e;
    throw e;
  }
  throw new Error(`expected "${text}" not to parse`);
}

describe('parsePipeline', () => {
  it('parses names, whitespace and the default pipeline', () => {
    expect(parsePipeline(DEFAULT_PIPELINE, registry).map((p) => p.pass.name)).toEqual([
      'canonicalize', 'dce', 'fuse-elementwise',
    ]);
    const p = parsePipeline('  dce ,  fuse-elementwise ', registry);
    expect(p.map((i) => [i.pass.name, i.column])).toEqual([['dce', 3], ['fuse-elementwise', 10]]);
    expect(parsePipeline('', registry)).toEqual([]);
    expect(parsePipeline('   ', registry)).toEqual([]);
  });

  it('parses options: numbers, booleans, bare words and quoted strings', () => {
    const [a, b] = parsePipeline(
      `fuse-elementwise{min-ops=2, x=-1.5e3, on=true, off=false, mode=fast, s="a,b}", t='it\\'s'},dce{}`,
      registry,
    );
    expect(a!.options).toEqual({ 'min-ops': 2, x: -1500, on: true, off: false, mode: 'fast', s: 'a,b}', t: "it's" });
    expect(b!.options).toEqual({});
    const text = 'fuse-elementwise{min-ops=2,mode=fast,s="a b"},dce';
    expect(formatPipeline(parsePipeline(text, registry))).toBe(text);
  });

  it('names the column and lists the known passes for an unknown pass', () => {
    const e = parseError('canonicalize, fuse-elementwse');
    expect(e.column).toBe(15);
    expect(e.message).toMatch(/^1:15: pipeline: unknown pass 'fuse-elementwse'/);
    expect(e.message).toMatch(/known passes: canonicalize, dce, fuse-elementwise/);
  });

  it('rejects malformed text with the column of the problem', () => {
    expect(parseError('dce,,canonicalize').column).toBe(5);
    expect(parseError('dce,').message).toMatch(/1:5: .*expected a pass name but found end of input/);
    expect(parseError('dce canonicalize').message).toMatch(/1:5: .*expected ','/);
    expect(parseError('dce{a=1,a=2}').message).toMatch(/1:9: .*option 'a' of dce given twice/);
    expect(parseError('dce{a}').message).toMatch(/1:6: .*expected '='/);
    expect(parseError('dce{a=1').message).toMatch(/1:8: .*expected ',' but found end of input/);
    expect(parseError('dce{a="x}').message).toMatch(/unterminated string/);
    expect(parseError('Dce').message).toMatch(/1:1: .*expected a pass name/);
  });
});

describe('runPipeline', () => {
  const before = ir(`
    graph g(%x: f32[2,3]) {
      %0: f32[] = const{value=1}()
      %1: f32[2,3] = mul(%x, %0)
      %2: f32[3,2] = transpose{dim0=0, dim1=1}(%1)
      %3: f32[3,2] = exp(%2)
      %4: f32[3,2] = neg(%3)
      return %4
    }`);

  it('runs the passes in order, verifies and reports after each, and merges stats', () => {
    const seen: string[] = [];
    let verified = 0;
    const { graph: out, stats } = runPipeline(parse(before), parsePipeline(DEFAULT_PIPELINE, registry), {
      verify: (g) => {
        verify(g);
        verified++;
      },
      onAfter: (name) => seen.push(name),
    });
    expect(seen).toEqual(['canonicalize', 'dce', 'fuse-elementwise']);
    expect(verified).toBe(3);
    expect(print(out)).toBe(ir(`
      graph g(%x: f32[2,3]) {
        %0: f32[3,2] = permute{perm=[1,0]}(%x)
        %1: f32[3,2] = fused{expr="neg(exp($0))"}(%0)
        return %1
      }`));
    expect(Object.fromEntries(stats)).toEqual({
      'canonicalize.mul-one': 1,
      'canonicalize.transpose-to-permute': 1,
      'dce.removed': 0,
      'fuse-elementwise.kernels': 1,
      'fuse-elementwise.ops': 2,
    });
  });

  it('passes each pass its own options', () => {
    const out = runPipeline(parse(before), parsePipeline('fuse-elementwise{min-ops=3}', registry));
    expect(out.graph.outputs[0]!.op).toBe('neg');
    expect(() => runPipeline(parse(before), parsePipeline('dce,fuse-elementwise{minops=3}', registry))).toThrow(
      /fuse-elementwise: unknown option 'minops' \(known options: min-ops\)/,
    );
  });

  it('names the pass after which verification failed', () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [2]));
    const dup = node('input', [], { name: 'x' }, tensorType('f32', [3]));
    const broken = definePass({
      name: 'broken',
      description: 'returns a graph with two inputs named x',
      run: (g) => graph(g.name, [...g.inputs, dup], g.outputs),
    });
    const g = graph('g', [x], [node('exp', [x])]);
    expect(() => runPipeline(g, [broken], { verify })).toThrow(IRError);
    expect(() => runPipeline(g, [broken], { verify })).toThrow(/verification failed after pass broken/);
  });

  it('registers custom passes and refuses a second pass under a taken name', () => {
    const reg = builtinPasses();
    const mine = definePass({ name: 'my-pass', description: 'identity', run: (g) => g });
    registerPass(reg, mine);
    expect(parsePipeline('dce,my-pass', reg).map((p) => p.pass)).toEqual([reg.get('dce'), mine]);
    const clash = definePass({ name: 'dce', description: 'other', run: (g) => g });
    expect(() => registerPass(reg, clash)).toThrow(/pass 'dce' is already registered/);
    expect(() => definePass({ name: 'My Pass', description: '', run: (g) => g })).toThrow(/kebab-case/);
  });
});
