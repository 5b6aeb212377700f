import { describe, expect, it } from 'vitest';
import { graph, IRError, node, parse, tensorType, verify, type Graph, type Node } from '../../ir/index.ts';

const x = node('input', [], { name: 'x' }, tensorType('f32', [2, 4]));
const w = node('param', [], { name: 'w' }, tensorType('f32', [3, 4]));
const g1 = (...outs: Node[]): Graph => graph('g', [x], outs);

function expectInvalid(g: Graph, message: RegExp): void {
  expect(() => verify(g)).toThrow(IRError);
  expect(() => verify(g)).toThrow(message);
}

describe('verify', () => {
  it('accepts a well-formed graph', () => {
    const y = node('fused', [node('linear', [x, w]), node('const', [], { value: 0.5 }, tensorType('f32', []))], {
      expr: 'mul(silu($0), $1)',
    });
    expect(() => verify(g1(y))).not.toThrow();
  });

  it('catches a non-leaf whose explicit type differs from inference, printing the node', () => {
    const bad = node('linear', [x, w], {}, tensorType('f32', [2, 4]));
    expectInvalid(g1(node('exp', [bad])), /type f32\[2,4\] differs from the inferred f32\[2,3\]/);
    expectInvalid(g1(bad), /f32\[2,4\] = linear\(input "x": f32\[2,4\], param "w": f32\[3,4\]\)/);
  });

  it('catches a node whose operands no longer type-check', () => {
    const bad = node('add', [x, w], {}, tensorType('f32', [2, 4]));
    expectInvalid(g1(bad), /add: shapes do not broadcast/);
  });

  it('checks leaf attributes', () => {
    expectInvalid(g1(node('add', [x, node('param', [], {}, x.type)])), /param needs a string name/);
    expectInvalid(g1(node('add', [x, node('const', [], { value: 'one' }, x.type)])), /const needs a numeric value/);
  });

  it('rejects one param name with two types or two inputs with one name', () => {
    const w2 = node('param', [], { name: 'w' }, tensorType('f32', [4, 4]));
    expectInvalid(g1(node('linear', [x, w]), node('linear', [x, w2])), /param name "w" is used twice.*f32\[4,4\]/);
    const x2 = node('input', [], { name: 'x' }, tensorType('f32', [2, 3]));
    expectInvalid(graph('g', [x, x2], [x]), /input name "x" is used twice/);
    expectInvalid(graph('g', [x, x], [x]), /lists this input twice/);
  });

  it('checks fused expressions parse and read existing operands', () => {
    expectInvalid(g1(node('fused', [x, x], { expr: 'add($0, $2)' })), /reads \$2 but the node has 2 operands/);
    expectInvalid(g1(node('fused', [x], { expr: 'add($0,' })), /expr "add\(\$0,": 1:8: expected/);
    expectInvalid(g1(node('fused', [x], { expr: 'matmul($0, $0)' })), /not elementwise/);
  });

  it('rejects an empty output list', () => {
    expectInvalid(parse('graph g(%x: f32[2]) { return }'), /graph g has no outputs/);
  });
});
