import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graph, node, tensorType, type DType } from '../../../ir/index.ts';
import { randomTensor } from '../../../compiler/weights/init.ts';
import { checkWeights, readSafetensors, writeSafetensors } from '../../../compiler/weights/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'vdit-st-'));
const rand = (d: DType, s: number[], seed: number, max?: number) => randomTensor(tensorType(d, s), seed, max);

/** A file with the given header object and `dataLen` data bytes (or a lying header length). */
function craft(name: string, header: unknown, dataLen: number, lenOverride?: number): string {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(lenOverride ?? json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataLen, 7)]));
  return path;
}

const ent = (dtype: string, shape: number[], a: number, b: number) => ({ dtype, shape, data_offsets: [a, b] });

describe('safetensors round trip', () => {
  it('writes atomically and reads back every dtype, floats as Float32Array', () => {
    const tensors = {
      w: rand('f32', [3, 5], 1), h: rand('f16', [7], 2), b: rand('bf16', [2, 2], 3), i: rand('i32', [4], 4, 100),
      q: rand('i8', [5], 5), u: rand('u8', [3], 6), m: rand('bool', [9], 7),
    };
    const path = join(dir, 'rt.safetensors');
    writeSafetensors(path, tensors, { format: 'pt' });
    expect(existsSync(`${path}.tmp`)).toBe(false);
    const buf = readFileSync(path);
    expect((8 + Number(buf.readBigUInt64LE(0))) % 8).toBe(0);
    const r = readSafetensors(path);
    expect(r.header.metadata).toEqual({ format: 'pt' });
    expect([...r.names()]).toEqual(Object.keys(tensors));
    for (const [name, t] of Object.entries(tensors)) {
      const got = r.get(name)!;
      expect(got.type).toEqual(t.type);
      expect(got.data.constructor).toBe(t.data.constructor);
      expect(Array.from(got.data)).toEqual(Array.from(t.data));
    }
    expect(r.get('nope')).toBeUndefined();
  });

  it('refuses dtypes safetensors cannot hold', () => {
    expect(() => writeSafetensors(join(dir, 'x'), { p: rand('i4', [8], 1) })).toThrow(/'p' has dtype i4/);
  });
});

describe('safetensors validation', () => {
  const expectErr = (path: string, re: RegExp) => {
    expect(() => readSafetensors(path)).toThrow(re);
    expect(() => readSafetensors(path)).toThrow(path);
  };

  it('file shorter than the length field', () => {
    const path = join(dir, 'short');
    writeFileSync(path, Buffer.alloc(5));
    expectErr(path, /file is 5 bytes, shorter than the 8-byte header length/);
  });

  it('header length beyond the file', () => {
    expectErr(craft('lie', { a: ent('F32', [1], 0, 4) }, 4, 9999), /header length 9999 exceeds the \d+ bytes/);
  });

  it('header that is not JSON', () => {
    const path = join(dir, 'nojson');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(5n);
    writeFileSync(path, Buffer.concat([len, Buffer.from('{oops')]));
    expectErr(path, /header is not JSON/);
  });

  it('missing fields and unknown dtype', () => {
    expectErr(craft('nodt', { a: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor 'a': missing dtype/);
    expectErr(craft('nooff', { a: { dtype: 'F32', shape: [1] } }, 4), /tensor 'a': missing data_offsets/);
    expectErr(craft('dt', { a: ent('F64', [1], 0, 8) }, 8), /tensor 'a': unknown dtype "F64"/);
  });

  it('offsets that do not match the shape, overlap, leave gaps or pass the end', () => {
    expectErr(craft('size', { a: ent('F32', [2], 0, 4) }, 4), /span 4 bytes but F32\[2\] needs 8/);
    expectErr(craft('ovl', { a: ent('F32', [2], 0, 8), b: ent('F32', [2], 4, 12) }, 12),
      /tensors 'a' and 'b' overlap at data bytes \[4, 8\)/);
    expectErr(craft('gap', { a: ent('F32', [1], 0, 4), b: ent('F32', [1], 8, 12) }, 12),
      /not fully covered: bytes \[4, 8\) belong to no tensor/);
    expectErr(craft('tail', { a: ent('F32', [1], 0, 4) }, 10), /6 trailing bytes belong to no tensor/);
    expectErr(craft('trunc', { a: ent('F32', [4], 0, 16) }, 10),
      /truncated: header promises 16 bytes of data, file has 10/);
    expectErr(craft('neg', { a: ent('F32', [1], 4, 0) }, 4), /data_offsets must be \[begin, end\]/);
  });
});

describe('checkWeights', () => {
  it('lists every missing or mismatched param', () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [2, 4]));
    const w = node('param', [], { name: 'w' }, tensorType('f32', [3, 4]));
    const b = node('param', [], { name: 'b' }, tensorType('f32', [3]));
    const g = graph('g', [x], [node('linear', [x, w, b])]);
    const path = join(dir, 'cw.safetensors');
    writeSafetensors(path, { w: rand('f32', [4, 3], 1) });
    expect(() => checkWeights(g, readSafetensors(path))).toThrow(
      /2 problems[\s\S]*'w': graph wants f32\[3,4\], weights have f32\[4,3\][\s\S]*missing 'b' \(f32\[3\]\)/);
    writeSafetensors(path, { w: rand('bf16', [3, 4], 1), b: rand('f32', [3], 2) });
    expect(() => checkWeights(g, readSafetensors(path))).not.toThrow();
  });
});
