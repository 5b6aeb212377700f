/**
 * Packed 4-bit storage (see ir/dtype.ts): 8 values per u32, element k of a row in nibble k % 8 of the row's word
 * k / 8 (nibble 0 least significant), each row padded to whole words.
 */

function rowsOf(count: number, shape: readonly number[]): [number, number, number] {
  const inner = shape.length ? shape[shape.length - 1]! : 1;
  const rows = inner ? count / inner : 0;
  return [rows, inner, Math.ceil(inner / 8)];
}

export function packedWords(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  const [rows, , words] = rowsOf(n, shape);
  return rows * words;
}

export function packNibbles(vals: ArrayLike<number>, shape: readonly number[]): Uint32Array {
  const [rows, inner, words] = rowsOf(vals.length, shape);
  const out = new Uint32Array(rows * words);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inner; k++) {
      const w = r * words + (k >>> 3);
      out[w] = (out[w]! | ((vals[r * inner + k]! & 0xf) << ((k & 7) * 4))) >>> 0;
    }
  }
  return out;
}

/** Unpacks into plain integers: i4 sign-extended to [-8, 7], u4 in [0, 15]. */
export function unpackNibbles(words: Uint32Array, shape: readonly number[], signed: boolean): Int32Array {
  let n = 1;
  for (const d of shape) n *= d;
  const [rows, inner, per] = rowsOf(n, shape);
  if (words.length !== rows * per) {
    const what = `${signed ? 'i4' : 'u4'}[${shape.join(',')}]`;
    throw new Error(`packed ${what} needs ${rows * per} words, got ${words.length}`);
  }
  const out = new Int32Array(n);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inner; k++) {
      const v = (words[r * per + (k >>> 3)]! >>> ((k & 7) * 4)) & 0xf;
      out[r * inner + k] = signed && v >= 8 ? v - 16 : v;
    }
  }
  return out;
}
