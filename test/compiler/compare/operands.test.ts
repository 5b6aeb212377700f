import { describe, expect, it } from 'vitest';
import { kernelOperands } from '../../../compiler/compare/operands.ts';
import { node } from '../../../ir/node.ts';
import type { DType } from '../../../ir/dtype.ts';
import { unpackNibbles } from '../../../runtime/reference-pack.ts';

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
});
