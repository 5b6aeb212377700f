import { describe, expect, it } from 'vitest';
import { kernelOperands } from '../../../compiler/compare/operands.ts';
import { node } from '../../../ir/node.ts';
import type { DType } from '../../../ir/dtype.ts';
import { unpackNibbles } from '../../../runtime/reference-pack.ts';
import { graph } from '../../../ir/graph.ts';
import { runReference } from '../../../runtime/reference.ts';
import { rowTiles } from '../../../runtime/reference-sparse-attention.ts';

const leaf = (name: string, dtype: DType, shape: number[]) => node('input', [], { name }, { dtype, shape });
const values = (d: ArrayLike<number>): number[] => Array.from(d);

describe('kernelOperands', () => {
  const qg = node('qgemm', [leaf('x', 'i8', [8, 64]), leaf('dx', 'f32', [8, 1]), leaf('w', 'i4', [16, 64]),
    leaf('dw', 'f32', [16, 1]), leaf('b', 'f32', [16])], { abits: 6, wbits: 4 });

  it('qgemm: A6 integers over their whole range, packed i4 weights, positive scales, no all-zero operand', () => {
    const [x, dx, w, dw, b] = kernelOperands(qg, 1);
    const xs = values(x!.data);
    expect([Math.min(...xs), Math.max(...xs)]).toEqual([-32, 31]);
    const ws = values(unpackNibbles(w!.data as Uint32Array, [16, 64], true));
    expect([Math.min(...ws), Math.max(...ws)]).toEqual([-8, 7]);
    for (const d of [dx!, dw!]) expect(values(d.data).every((v) => v > 0 && v < 0.06)).toBe(true);
    for (const t of [x!, w!, dx!, dw!, b!]) expect(new Set(values(t.data)).size).toBeGreaterThan(1);
  });

  it('unit: Δ = 1 and integer bias, so the result is an exact integer sum', () => {
    const [, dx, , dw, b] = kernelOperands(qg, 2, { unit: true });
    expect(values(dx!.data).every((v) => v === 1) && values(dw!.data).every((v) => v === 1)).toBe(true);
    expect(values(b!.data).every((v) => Number.isInteger(v) && v !== 0)).toBe(true);
  });

  it('gather indices stay inside the table; quantize Δ spans the integer range; seeds give fresh values', () => {
    const g = node('gather', [leaf('t', 'f32', [5, 3]), leaf('i', 'i32', [40])], { axis: 0 });
    const idx = values(kernelOperands(g, 3)[1]!.data);
    expect(idx.every((v) => v >= 0 && v < 5) && new Set(idx).size === 5).toBe(true);
    const q = node('quantize', [leaf('a', 'f32', [4, 8]), leaf('d', 'f32', [4, 1])], { bits: 8 });
    expect(values(kernelOperands(q, 4)[1]!.data).every((v) => v >= 0.5 / 127 && v <= 2 / 127)).toBe(true);
    expect(values(kernelOperands(q, 4)[0]!.data)).toEqual(values(kernelOperands(q, 4)[0]!.data));
    expect(values(kernelOperands(q, 5)[0]!.data)).not.toEqual(values(kernelOperands(q, 4)[0]!.data));
  });

  it('schedule_value: timesteps in [0, 1), where its bounds lie', () => {
    const sv = node('schedule_value', [leaf('t', 'f32', [64])], { values: [1, 0.5, 0.25], bounds: [0.7, 0.3] });
    const t = values(kernelOperands(sv, 7)[0]!.data);
    expect(t.every((v) => v >= 0 && v < 1) && t.some((v) => v < 0.3) && t.some((v) => v >= 0.7)).toBe(true);
  });

  it('sparse_attention: valid tile lists the reference accepts (rows −1 padded), timesteps in [0, 1)', () => {
    const sa = node('sparse_attention', [leaf('q', 'f32', [2, 1, 8, 4]), leaf('k', 'f32', [2, 1, 40, 4]),
      leaf('v', 'f32', [2, 1, 40, 4]), leaf('tiles', 'i32', [3, 4]), leaf('t', 'f32', [2])],
      { scale: 0.5, tile: 8, bounds: [0.6, 0.3] });
    const ops = kernelOperands(sa, 6);
    const tiles = values(ops[3]!.data);
    for (let r = 0; r < 3; r++) expect(() => rowTiles(tiles.slice(r * 4, r * 4 + 4), 40, 8)).not.toThrow();
    expect(values(ops[4]!.data).every((v) => v >= 0 && v < 1)).toBe(true);
    expect(() => runReference(graph('g', sa.src.slice(), [sa]), {
      q: ops[0]!, k: ops[1]!, v: ops[2]!, tiles: ops[3]!, t: ops[4]!,
    }, { get: () => undefined, names: () => [] })).not.toThrow();
  });
});
