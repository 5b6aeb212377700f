/** A minimal GIF89a reader for tests: global palette, loop extension, delays and LZW-decoded index frames. */
export interface DecodedGif {
  readonly signature: string;
  readonly width: number;
  readonly height: number;
  readonly palette: number[][];
  readonly loop?: number;
  readonly delaysCs: number[];
  readonly frames: Uint8Array[];
}

export function decodeGif(b: Uint8Array): DecodedGif {
  const signature = String.fromCharCode(...b.subarray(0, 6));
  const u16 = (o: number): number => b[o]! | (b[o + 1]! << 8);
  const width = u16(6);
  const height = u16(8);
  const flags = b[10]!;
  let p = 13;
  const palette: number[][] = [];
  if (flags & 0x80) {
    const n = 2 << (flags & 7);
    for (let i = 0; i < n; i++) palette.push([b[p + 3 * i]!, b[p + 3 * i + 1]!, b[p + 3 * i + 2]!]);
    p += 3 * n;
  }
  let loop: number | undefined;
  const delaysCs: number[] = [];
  const frames: Uint8Array[] = [];
  const subBlocks = (): Uint8Array => {
    const parts: number[] = [];
    while (b[p] !== 0) {
      parts.push(...b.subarray(p + 1, p + 1 + b[p]!));
      p += 1 + b[p]!;
    }
    p++;
    return Uint8Array.from(parts);
  };
  for (;;) {
    const tag = b[p++];
    if (tag === 0x3b) break;
    if (tag === 0x21) {
      const label = b[p++];
      const data = subBlocks();
      if (label === 0xf9) delaysCs.push(data[1]! | (data[2]! << 8));
      const app = label === 0xff ? String.fromCharCode(...data.subarray(0, 11)) : '';
      if (app === 'NETSCAPE2.0') loop = data[12]! | (data[13]! << 8);
    } else if (tag === 0x2c) {
      const w = u16(p + 4);
      const h = u16(p + 6);
      if (b[p + 8]! & 0x80) throw new Error('local colour tables are not expected');
      p += 9;
      const minCode = b[p++]!;
      frames.push(lzwDecode(subBlocks(), minCode, w * h));
    } else {
      throw new Error(`bad GIF block 0x${(tag ?? 0).toString(16)} at ${p - 1}`);
    }
  }
  return { signature, width, height, palette, ...(loop !== undefined ? { loop } : {}), delaysCs, frames };
}

function lzwDecode(data: Uint8Array, minCode: number, n: number): Uint8Array {
  const clear = 1 << minCode;
  const out = new Uint8Array(n);
  let o = 0;
  let dict: number[][] = [];
  let size = minCode + 1;
  let prev: number[] | undefined;
  let bit = 0;
  const reset = (): void => {
    dict = Array.from({ length: clear + 2 }, (_, i) => [i]);
    size = minCode + 1;
    prev = undefined;
  };
  reset();
  while (bit + size <= data.length * 8) {
    let code = 0;
    for (let i = 0; i < size; i++, bit++) code |= ((data[bit >> 3]! >> (bit & 7)) & 1) << i;
    if (code === clear) { reset(); continue; }
    if (code === clear + 1) break;
    const entry = code < dict.length ? dict[code]! : [...prev!, prev![0]!];
    if (prev) dict.push([...prev, entry[0]!]);
    for (const v of entry) out[o++] = v;
    prev = entry;
    if (dict.length === 1 << size && size < 12) size++;
  }
  if (o !== n) throw new Error(`LZW decoded ${o} of ${n} pixels`);
  return out;
}
