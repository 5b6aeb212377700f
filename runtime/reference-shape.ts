import type { Node } from '../ir/node.ts';
import { normAxis, strides } from '../ir/types.ts';
import { alloc, prod, stridedIndex, type Ctx, type Val } from './reference-values.ts';

function axisOf(n: Node, name: string, rank: number, fallback?: number): number {
  const a = normAxis((n.attrs[name] as number | undefined) ?? fallback ?? NaN, rank);
  if (a === undefined) throw new Error(`${n.op}: attribute ${name} out of range for rank ${rank}`);
  return a;
}

/** Row-major data is unchanged by a reshape: the result shares the operand's buffer (values are never mutated). */
export function evalReshape(n: Node, src: readonly Val[]): Val {
  return { type: n.type, data: src[0]!.data };
}

function permuteWith(n: Node, x: Val, perm: readonly number[], ctx: Ctx): Val {
  const st = strides(x.type.shape);
  const idx = stridedIndex(n.type.shape, perm.map((p) => st[p]!));
  const out = alloc(n.type, ctx);
  const [o, d] = [out.data, x.data];
  for (let i = 0; i < o.length; i++) o[i] = d[idx[i]!]!;
  return out;
}

export function evalPermute(n: Node, src: readonly Val[], ctx: Ctx): Val {
  return permuteWith(n, src[0]!, n.attrs['perm'] as readonly number[], ctx);
}

export function evalTranspose(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const r = n.type.shape.length;
  const [a, b] = [axisOf(n, 'dim0', r), axisOf(n, 'dim1', r)];
  const perm = Array.from({ length: r }, (_, i) => (i === a ? b : i === b ? a : i));
  return permuteWith(n, src[0]!, perm, ctx);
}

export function evalConcat(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const s = n.type.shape;
  const axis = axisOf(n, 'axis', s.length);
  const [outer, inner] = [prod(s, 0, axis), prod(s, axis + 1)];
  const out = alloc(n.type, ctx);
  const o = out.data;
  let pos = 0;
  for (let p = 0; p < outer; p++) {
    for (const x of src) {
      const chunk = x.type.shape[axis]! * inner;
      for (let i = 0; i < chunk; i++) o[pos + i] = x.data[p * chunk + i]!;
      pos += chunk;
    }
  }
  return out;
}

export function evalSlice(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const x = src[0]!;
  const s = x.type.shape;
  const axis = axisOf(n, 'axis', s.length);
  const [start, step] = [n.attrs['start'] as number, (n.attrs['step'] as number | undefined) ?? 1];
  const [outer, size, inner, count] = [prod(s, 0, axis), s[axis]!, prod(s, axis + 1), n.type.shape[axis]!];
  const out = alloc(n.type, ctx);
  const [o, d] = [out.data, x.data];
  let pos = 0;
  for (let p = 0; p < outer; p++) {
    for (let j = 0; j < count; j++) {
      const from = (p * size + start + j * step) * inner;
      for (let i = 0; i < inner; i++) o[pos++] = d[from + i]!;
    }
  }
  return out;
}

/** Out-of-range indices are an error here (the oracle should catch them), though a GPU kernel would not check. */
export function evalGather(n: Node, src: readonly Val[], ctx: Ctx): Val {
  const [x, idx] = [src[0]!, src[1]!];
  const s = x.type.shape;
  const axis = axisOf(n, 'axis', s.length, 0);
  const [outer, size, inner] = [prod(s, 0, axis), s[axis]!, prod(s, axis + 1)];
  const out = alloc(n.type, ctx);
  const [o, d, ix] = [out.data, x.data, idx.data];
  let pos = 0;
  for (let p = 0; p < outer; p++) {
    for (let t = 0; t < ix.length; t++) {
      const k = ix[t]!;
      if (!(k >= 0 && k < size)) {
        throw new Error(`gather: index ${k} (at ${t}) out of range for axis ${axis} of size ${size}`);
      }
      const from = (p * size + k) * inner;
      for (let i = 0; i < inner; i++) o[pos++] = d[from + i]!;
    }
  }
  return out;
}
