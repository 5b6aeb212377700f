import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isFloat, type DType } from '../../ir/dtype.ts';
import { params, type Graph } from '../../ir/graph.ts';
import { formatType, numel, sameShape } from '../../ir/types.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { fromBf16Bits, fromF16Bits, toBf16Bits, toF16Bits } from './f16.ts';
import type { Weights } from './weights.ts';

/**
 * safetensors: u64 little-endian header length N, N bytes of JSON header (`{name: {dtype, shape, data_offsets}}`
 * plus optional `__metadata__` of strings), then the data region; offsets are relative to the data region, which
 * the tensors must tile exactly.
 */

const ST_TO_DTYPE: Readonly<Record<string, DType>> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', I32: 'i32', U32: 'u32', I8: 'i8', U8: 'u8', BOOL: 'bool',
};
const ITEM_SIZE: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, U32: 4, I8: 1, U8: 1, BOOL: 1 };
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly dataOffsets: readonly [number, number];
}

export interface SafetensorsHeader {
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  /** byte offset of the data region in the file */
  readonly dataStart: number;
}

/** Reads and fully validates a safetensors file; tensors are decoded (floats to Float32Array) on first `get`. */
export function readSafetensors(path: string): Weights & { readonly header: SafetensorsHeader } {
  const buf = readFileSync(path);
  const header = parseHeader(buf, (msg) => new Error(`${path}: ${msg}`));
  const cache = new Map<string, Tensor>();
  return {
    header,
    get(name) {
      const hit = cache.get(name);
      if (hit) return hit;
      const e = header.tensors.get(name);
      if (!e) return undefined;
      const t = decode(buf, header.dataStart, e);
      cache.set(name, t);
      return t;
    },
    names: () => header.tensors.keys(),
  };
}

type Fail = (msg: string) => Error;

function parseHeader(buf: Buffer, fail: Fail): SafetensorsHeader {
  if (buf.length < 8) throw fail(`file is ${buf.length} bytes, shorter than the 8-byte header length`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw fail(`header length ${n} exceeds the ${buf.length - 8} bytes after the length field`);
  if (n > MAX_HEADER) throw fail(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (e) {
    throw fail(`header is not JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw fail('header is not a JSON object');
  const metadata = parseMetadata((json as Record<string, unknown>)['__metadata__'], fail);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, v] of Object.entries(json)) {
    if (name !== '__metadata__') tensors.set(name, parseEntry(name, v, fail));
  }
  checkLayout(tensors, buf.length - 8 - n, fail);
  return { tensors, metadata, dataStart: 8 + n };
}

function parseMetadata(v: unknown, fail: Fail): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('__metadata__ must be an object');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw fail(`__metadata__.${k} must be a string, got ${JSON.stringify(x)}`);
  }
  return v as Record<string, string>;
}

function parseEntry(name: string, v: unknown, fail: Fail): SafetensorsEntry {
  const at = `tensor '${name}'`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(`${at}: entry must be an object`);
  const { dtype, shape, data_offsets: off } = v as Record<string, unknown>;
  if (dtype === undefined) throw fail(`${at}: missing dtype`);
  if (shape === undefined) throw fail(`${at}: missing shape`);
  if (off === undefined) throw fail(`${at}: missing data_offsets`);
  if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
    throw fail(`${at}: unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`);
  }
  const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail(`${at}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount) || off[0]! > off[1]!) {
    throw fail(`${at}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(off)}`);
  }
  const [begin, end] = off as [number, number];
  const bytes = numel(shape) * ITEM_SIZE[dtype]!;
  if (end - begin !== bytes) {
    throw fail(`${at}: data_offsets [${begin}, ${end}) span ${end - begin} bytes but ${dtype}` +
      `[${shape.join(',')}] needs ${bytes}`);
  }
  return { dtype, shape, dataOffsets: [begin, end] };
}

/** The tensors must tile [0, dataLen) exactly: no overlap, no gap, nothing past the end of the file. */
function checkLayout(tensors: ReadonlyMap<string, SafetensorsEntry>, dataLen: number, fail: Fail): void {
  const sorted = [...tensors].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] ||
    a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  const promised = sorted.reduce((m, [, e]) => Math.max(m, e.dataOffsets[1]), 0);
  if (promised > dataLen) throw fail(`truncated: header promises ${promised} bytes of data, file has ${dataLen}`);
  let pos = 0;
  let prev = '';
  for (const [name, e] of sorted) {
    const [b, end] = e.dataOffsets;
    if (b < pos) throw fail(`tensors '${prev}' and '${name}' overlap at data bytes [${b}, ${Math.min(pos, end)})`);
    if (b > pos) throw fail(`data region not fully covered: bytes [${pos}, ${b}) belong to no tensor`);
    pos = end;
    prev = name;
  }
  if (pos < dataLen) throw fail(`data region not fully covered: ${dataLen - pos} trailing bytes belong to no tensor`);
}

function decode(buf: Buffer, start: number, e: SafetensorsEntry): Tensor {
  const [b, end] = e.dataOffsets;
  // copy: the file buffer's data region need not be aligned for typed-array views
  const bytes = new Uint8Array(buf.subarray(start + b, start + end));
  const type = { dtype: ST_TO_DTYPE[e.dtype]!, shape: [...e.shape] };
  switch (e.dtype) {
    case 'F32': return tensor(type, new Float32Array(bytes.buffer));
    case 'F16': return tensor(type, fromF16Bits(new Uint16Array(bytes.buffer)));
    case 'BF16': return tensor(type, fromBf16Bits(new Uint16Array(bytes.buffer)));
    case 'I32': return tensor(type, new Int32Array(bytes.buffer));
    case 'U32': return tensor(type, new Uint32Array(bytes.buffer));
    case 'I8': return tensor(type, new Int8Array(bytes.buffer));
    default: return tensor(type, bytes);
  }
}

const DTYPE_TO_ST: Partial<Record<DType, string>> = {
  f32: 'F32', f16: 'F16', bf16: 'BF16', i32: 'I32', u32: 'U32', i8: 'I8', u8: 'U8', bool: 'BOOL',
};

function encode(name: string, t: Tensor): Uint8Array {
  const d = t.type.dtype;
  if (!DTYPE_TO_ST[d]) {
    throw new Error(`writeSafetensors: tensor '${name}' has dtype ${d}, which safetensors cannot hold`);
  }
  if (t.data.length !== numel(t.type.shape)) {
    throw new Error(`writeSafetensors: tensor '${name}' ${formatType(t.type)} holds ${t.data.length} elements`);
  }
  const data = d === 'f16' ? toF16Bits(t.data) : d === 'bf16' ? toBf16Bits(t.data) : t.data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Writes `path + '.tmp'` then renames it over `path`, so readers never see a half-written file. */
export function writeSafetensors(
  path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  const parts: Uint8Array[] = [];
  let pos = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new Error(`writeSafetensors: '__metadata__' is reserved, not a tensor name`);
    const bytes = encode(name, t);
    header[name] = { dtype: DTYPE_TO_ST[t.type.dtype], shape: t.type.shape, data_offsets: [pos, pos + bytes.length] };
    parts.push(bytes);
    pos += bytes.length;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data region starts 8-byte aligned, as the reference implementation does
  const jsonLen = Buffer.byteLength(json);
  json += ' '.repeat((8 - ((8 + jsonLen) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, Buffer.concat([len, Buffer.from(json), ...parts]));
  renameSync(tmp, path);
}

/** Every param of g is present with its shape (and a compatible dtype); otherwise one Error listing all mismatches. */
export function checkWeights(g: Graph, weights: Weights): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of params(g)) {
    const name = p.attrs['name'] as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const t = weights.get(name);
    if (!t) problems.push(`missing '${name}' (${formatType(p.type)})`);
    else if (!sameShape(t.type.shape, p.type.shape) || !compatible(t.type.dtype, p.type.dtype)) {
      problems.push(`'${name}': graph wants ${formatType(p.type)}, weights have ${formatType(t.type)}`);
    }
  }
  if (problems.length) {
    const list = problems.join('\n  ');
    throw new Error(`weights do not match graph '${g.name}' (${problems.length} problems):\n  ${list}`);
  }
}

/** Float weights can feed a param of another float dtype (e.g. a bf16 checkpoint into an f32 graph). */
function compatible(have: DType, want: DType): boolean {
  return have === want || (isFloat(have) && isFloat(want));
}
