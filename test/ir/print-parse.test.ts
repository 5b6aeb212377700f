import { describe, expect, it } from 'vitest';
import {
  ALL_OPS, graph, node, parse, ParseError, print, printNode, tensorType, toposort, verify, type DType, type Graph,
  type Node,
} from '../../ir/index.ts';

const T = (d: DType, ...shape: number[]) => tensorType(d, shape);
const input = (name: string, d: DType, ...shape: number[]) => node('input', [], { name }, T(d, ...shape));
const param = (name: string, ...shape: number[]) => node('param', [], { name, std: 0.02 }, T('f32', ...shape));

// elementwise, reductions, casts and fused bodies over x[2,8]; attrs of every value kind
function elementwiseGraph(): Graph {
  const x = input('x', 'f32', 2, 8);
  const c = input('c', 'bool', 2, 8);
  const k = node('const', [], { value: -Infinity }, T('f32', 2, 8));
  const half = node('const', [], { value: 0.1 + 0.2 }, T('f32', 8));
  const tags = node('param', [], { name: 'p', init: 'ones', tags: ['a', 'b"q'], frozen: true, empty: [] }, T('f32', 8));
  let h: Node = node('add', [x, half]);
  for (const op of ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'recip', 'square', 'tanh', 'sigmoid', 'relu', 'silu',
    'sin', 'cos'] as const) h = node(op, [h]);
  h = node('gelu', [h], { approx: 'tanh' });
  for (const op of ['sub', 'mul', 'div', 'max', 'min', 'pow'] as const) h = node(op, [h, tags]);
  h = node('where', [c, h, k]);
  const s = node('reduce_sum', [h], { axes: [1], keepdims: true });
  const m = node('reduce_mean', [h], { axes: [0, -1], keepdims: false });
  const r = node('reduce_max', [h], { axes: [-1] });
  const f = node('fused', [h, s], { expr: 'silu(add($0, mul($1, -1.5e-3)))' });
  const f16 = node('fused', [f], { expr: 'cast{to="f16"}($0)', dtype: 'f16' });
  return graph('elementwise', [x, c], [node('cast', [h], { to: 'f16' }), m, r, f16]);
}

// a DiT-like block: every NN, SHAPE and VDIT op
function blockGraph(): Graph {
  const [B, N, D, H] = [2, 8, 16, 2];
  const x = input('x', 'f32', B, N, D);
  const t = input('t', 'f32', B);
  const ids = input('0', 'i32', 3);
  const temb = node('timestep_embedding', [t], { dim: D, max_period: 10000, flip: true, shift: 1, scale: 1000 });
  const cond = node('linear', [temb, param('ada.w', 2 * D, D), param('ada.b', 2 * D)]);
  const shift = node('slice', [cond], { axis: 1, start: 0, end: D, step: 1 });
  const scale = node('slice', [cond], { axis: -1, start: D, end: 2 * D, step: 1 });
  const ln = node('layernorm', [x, param('ln.w', D), param('ln.b', D)], { eps: 1e-6 });
  const mod = node('modulate', [ln, shift, scale]);
  const heads = (w: string) =>
    node('permute', [node('reshape', [node('linear', [mod, param(w, D, D)])], { shape: [B, N, H, D / H] })], {
      perm: [0, 2, 1, 3],
    });
  const q = node('rope3d', [heads('q')], { grid: [1, 2, 3], dims: [2, 2, 4], theta: 10000, offset: 2 });
  const k = node('rmsnorm', [heads('k'), param('kn', D / H)], { eps: 1e-5 });
  const mask = input('mask', 'bool', 1, 1, N, N);
  const att = node('attention', [q, k, heads('v'), mask], { scale: 1 / Math.sqrt(D / H) });
  const back = node('reshape', [node('transpose', [att], { dim0: 1, dim1: 2 })], { shape: [B, N, D] });
  const gated = node('gate', [back, scale]);
  const scores = node('softmax', [node('matmul', [gated, node('transpose', [x], { dim0: -1, dim1: -2 })])], {
    axis: -1,
  });
  const both = node('concat', [gated, x], { axis: 1 });
  const picked = node('gather', [both, ids], { axis: 1 });
  const colsum = node('attention_colsum', [q, k], { scale: 0.5 });
  const kept = input('kept', 'i32', 2);
  const sparse = node('sparse_attention', [q, k, heads('v'), kept], { scale: 0.25, tile: 3 });
  const selected = node('tile_select', [q, k], { tile: 3, keep: 0.5, keepFirst: 1, scale: 0.25 });
  const flag = node('schedule_value', [t], { values: [1, 0, 0.5], bounds: [0.75, 0.25] });
  return graph('return', [x, t, ids, mask, kept], [picked, scores, colsum, sparse, selected, flag]);
}

// the QDQ ops: a per-token quantized activation against packed int4 weights, and its simulated twin
function quantGraph(): Graph {
  const x = node('input', [], { name: 'x' }, tensorType('f32', [3, 16]));
  const wq = node('param', [], { name: 'w.q' }, tensorType('i4', [8, 16]));
  const sw = node('param', [], { name: 'w.scale' }, tensorType('f32', [8, 1]));
  const sx = node('token_scale', [x], { bits: 6 });
  const xq = node('quantize', [x, sx], { bits: 6 });
  const q = node('qgemm', [xq, sx, wq, sw], { abits: 6, wbits: 4 });
  const sim = node('linear', [node('dequantize', [xq, sx]), node('dequantize', [wq, sw])]);
  return graph('quant', [x], [q, sim]);
}

function expectRoundTrip(g: Graph): string {
  const text = print(g);
  const back = parse(text);
  expect(print(back)).toBe(text);
  // hash-consing makes the rebuilt graph the very same nodes
  back.outputs.forEach((o, i) => expect(o).toBe(g.outputs[i]));
  expect(back.inputs).toEqual(g.inputs);
  expect(back.name).toBe(g.name);
  return text;
}

describe('print/parse', () => {
  it('covers every op and round-trips exactly', () => {
    const gs = [elementwiseGraph(), blockGraph(), quantGraph()];
    const seen = new Set(gs.flatMap((g) => toposort(g).map((n) => n.op)));
    expect(ALL_OPS.filter((op) => !seen.has(op))).toEqual([]);
    for (const g of gs) {
      verify(g);
      expectRoundTrip(g);
    }
  });

  it('prints the documented format', () => {
    const x = input('x', 'f32', 2, 4);
    const y = node('silu', [node('linear', [x, param('blocks.0.w', 3, 4)])]);
    expect(print(graph('tiny', [x], [y, x]))).toBe(
      [
        'graph tiny(%x: f32[2,4]) {',
        '  %0: f32[3,4] = param{name="blocks.0.w", std=0.02}()',
        '  %1: f32[2,3] = linear(%x, %0)',
        '  %2: f32[2,3] = silu(%1)',
        '  return %2, %x',
        '}',
      ].join('\n'),
    );
  });

  it('keeps numbers bit-exact and quotes awkward names', () => {
    const values = [0.1 + 0.2, -1e-300, 1 / 3, 6.02e23, -0.5, Number.MAX_VALUE, -Infinity, NaN];
    const x = input('a b', 'f32', 2);
    const outs = values.map((v) => node('add', [x, node('const', [], { value: v }, T('f32', 1))]));
    const text = expectRoundTrip(graph('my graph', [x], outs));
    expect(text).toContain('graph "my graph"(%"a b": f32[2])');
    const parsed = parse(text).outputs.map((o) => o.src[1]!.attrs['value']);
    expect(parsed).toEqual(values);
  });

  it('accepts comments, free whitespace and scalar types', () => {
    const g = parse(`// header
      graph g ( %x : f32 [ ] ) {   // scalar input
        %7 : f32[] = exp ( %x )
        return %7 , %7 }`);
    expect(print(g)).toBe('graph g(%x: f32[]) {\n  %0: f32[] = exp(%x)\n  return %0, %0\n}');
  });

  it('prints one-line node descriptions', () => {
    const x = input('x', 'f32', 2, 4);
    expect(printNode(node('linear', [x, param('w', 3, 4)]))).toBe(
      'f32[2,3] = linear(input "x": f32[2,4], param "w": f32[3,4])',
    );
  });
});

const HEAD = 'graph g(%x: f32[2,3], %i: i32[2]) {\n';
// one definition on line 2 (after the header), then `return %0`
const L2 = (line: string) => `${HEAD}  ${line}\n  return %0\n}`;
const errorCases: [string, string, number, number, RegExp][] = [
  ['empty input', '', 1, 1, /expected 'graph' but found end of input/],
  ['missing paren', L2('%0: f32[2,3] = add(%x, %x'), 3, 3, /expected '\)' but found 'return'/],
  ['comma for paren', L2('%0: f32[2,3] = exp(%x,)'), 2, 25, /found '\)'/],
  ['bad dtype', L2('%0: f33[2,3] = exp(%x)'), 2, 7, /unknown dtype 'f33'.*f32/],
  ['undefined value', L2('%0: f32[2,3] = add(%x, %7)'), 2, 26, /undefined value %7/],
  ['type mismatch', L2('%0: f32[2,4] = exp(%x)'), 2, 7, /declared type f32\[2,4\] but exp infers f32\[2,3\]/],
  ['unknown op', L2('%0: f32[2,3] = lienar(%x)'), 2, 18, /unknown op 'lienar' \(did you mean linear/],
  ['inference error', L2('%0: f32[2,3] = add(%x, %i)'), 2, 18, /add: operands must share one dtype/],
  ['redefinition', L2('%0: f32[2,3] = exp(%x)\n  %0: f32[2,3] = log(%x)'), 3, 3, /%0 is already defined at 2:3/],
  ['missing return', `${HEAD}  %0: f32[2,3] = exp(%x)\n}`, 3, 1, /expected 'return' but found '}'/],
  ['garbage after }', `${HEAD}  return %x\n} extra`, 3, 3, /unexpected 'extra' after the end of the graph/],
  ['bad character', `${HEAD}  return %x;\n}`, 2, 12, /unexpected character ";"/],
  ['leaf with operands', L2('%0: f32[2] = const{value=1}(%x)'), 2, 16, /leaf/],
  ['fractional dim', L2('%0: f32[2.5] = const{value=1}()'), 2, 11, /dimension 2.5/],
  ['mixed list', L2('%0: f32[2] = const{value=1, l=[1, "a"]}()'), 2, 33, /only numbers or only strings/],
  ['duplicate attr', L2('%0: f32[2] = const{value=1, value=2}()'), 2, 31, /value is given twice/],
  ['truncated', `${HEAD}  return %x`, 2, 12, /expected '}' but found end of input/],
];

describe('parse errors', () => {
  it.each(errorCases)('%s', (_name, text, line, column, message) => {
    let err: unknown;
    try {
      parse(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParseError);
    const pe = err as ParseError;
    expect(pe.message).toMatch(message);
    expect([pe.line, pe.column]).toEqual([line, column]);
    expect(pe.message.startsWith(`${line}:${column}: `)).toBe(true);
  });
});
