import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { f16BitsToF32, toF16Bits } from '../weights/f16.ts';

/**
 * The calibration store: a folder holding
 *   manifest.json       CalibManifest (shapes, settings, and one CalibRecord per sample in file order)
 *   block-NN.bin        block NN's input hidden state, [record, token, channel] row-major, little-endian f16 or f32
 *   attn-NN.f32         block NN's attention importance S (attention_colsum), [record, key] f32, when recorded
 * A record is one (prompt, step, CFG branch). Files are appended record by record, so a run never holds more than
 * one forward's outputs in memory; the folder is written under a temp name and renamed into place at the end.
 */
export const STORE_FORMAT = 'vdit-calib-1';

export interface CalibRecord {
  readonly id: number;
  readonly prompt: number;
  readonly cls: number;
  /** sampling-order step index, 0 = pure noise */
  readonly step: number;
  /** flow time of the forward */
  readonly t: number;
  readonly branch: 'cond' | 'uncond';
}

export interface CalibManifest {
  readonly format: typeof STORE_FORMAT;
  readonly model: string;
  readonly dtype: 'f16' | 'f32';
  readonly blocks: number;
  readonly tokens: number;
  readonly channels: number;
  /** text tokens leading each token row (joint models); λ treats them separately */
  readonly textTokens: number;
  /** keys of each block's attention importance row; absent when none was recorded */
  readonly keys?: number;
  readonly prompts: number;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
  readonly records: readonly CalibRecord[];
}

export type StoreHeader = Omit<CalibManifest, 'format' | 'records'>;

const pad = (i: number): string => String(i).padStart(2, '0');
export const blockFile = (i: number): string => `block-${pad(i)}.bin`;
export const attnFile = (i: number): string => `attn-${pad(i)}.f32`;

/** Appends records to a temp folder beside `dir`; finish() renames it to `dir`, abort() removes it. */
export class StoreWriter {
  private readonly records: CalibRecord[] = [];
  private readonly fds: number[];
  private readonly attnFds: number[];
  private closed = false;

  private constructor(readonly dir: string, private readonly tmp: string, private readonly header: StoreHeader) {
    this.fds = Array.from({ length: header.blocks }, (_, i) => openSync(join(tmp, blockFile(i)), 'w'));
    this.attnFds = header.keys === undefined ? []
      : Array.from({ length: header.blocks }, (_, i) => openSync(join(tmp, attnFile(i)), 'w'));
  }

  static create(dir: string, header: StoreHeader): StoreWriter {
    if (existsSync(dir) && !existsSync(join(dir, 'manifest.json'))) {
      throw new Error(`${dir} exists and is not a calibration store: refusing to replace it`);
    }
    mkdirSync(dirname(dir), { recursive: true });
    const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    return new StoreWriter(dir, tmp, header);
  }

  /** One record: every block's input [tokens·channels] and, when the store keeps them, every block's S [keys]. */
  append(rec: Omit<CalibRecord, 'id'>, blockInputs: readonly Float32Array[], attn: readonly Float32Array[] = []): number {
    if (this.closed) throw new Error('calibration store: append after finish/abort');
    const { blocks, tokens, channels, keys } = this.header;
    if (blockInputs.length !== blocks) throw new Error(`calibration store: ${blockInputs.length} block inputs, want ${blocks}`);
    if (attn.length !== this.attnFds.length) throw new Error(`calibration store: ${attn.length} importance rows, want ${this.attnFds.length}`);
    blockInputs.forEach((x, i) => {
      if (x.length !== tokens * channels) throw new Error(`calibration store: block ${i} input has ${x.length} values, want ${tokens * channels}`);
      writeAll(this.fds[i]!, this.header.dtype === 'f16' ? toF16Bits(x) : x);
    });
    attn.forEach((s, i) => {
      if (s.length !== keys) throw new Error(`calibration store: block ${i} importance has ${s.length} values, want ${keys}`);
      writeAll(this.attnFds[i]!, s);
    });
    const id = this.records.length;
    this.records.push({ id, ...rec });
    return id;
  }

  finish(): CalibManifest {
    const manifest: CalibManifest = { format: STORE_FORMAT, ...this.header, records: this.records };
    this.close();
    writeFileSync(join(this.tmp, 'manifest.json'), JSON.stringify(manifest, null, 1));
    rmSync(this.dir, { recursive: true, force: true });
    renameSync(this.tmp, this.dir);
    return manifest;
  }

  abort(): void {
    this.close();
    rmSync(this.tmp, { recursive: true, force: true });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of [...this.fds, ...this.attnFds]) closeSync(fd);
  }
}

function writeAll(fd: number, a: Float32Array | Uint16Array): void {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/** Random access to a finished store, one record at a time. */
export class StoreReader {
  private constructor(readonly dir: string, readonly manifest: CalibManifest) {}

  static open(dir: string): StoreReader {
    const path = join(dir, 'manifest.json');
    if (!existsSync(path)) throw new Error(`${dir}: not a calibration store (no manifest.json)`);
    const m = JSON.parse(readFileSync(path, 'utf8')) as CalibManifest;
    if (m.format !== STORE_FORMAT) throw new Error(`${path}: format '${String(m.format)}', want '${STORE_FORMAT}'`);
    return new StoreReader(dir, m);
  }

  /** Block `block`'s input for record `id`, [tokens, channels] as f32. */
  blockInput(block: number, id: number): Float32Array {
    const { tokens, channels, dtype } = this.manifest;
    const n = tokens * channels;
    const bytes = readAt(join(this.dir, blockFile(this.checkBlock(block))), this.checkRecord(id) * n * (dtype === 'f16' ? 2 : 4), n * (dtype === 'f16' ? 2 : 4));
    if (dtype === 'f32') return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    return Float32Array.from(bits, f16BitsToF32);
  }

  /** Block `block`'s attention importance S for record `id`, [keys]. */
  importance(block: number, id: number): Float32Array {
    const keys = this.manifest.keys;
    if (keys === undefined) throw new Error(`${this.dir}: the store holds no attention importance`);
    const bytes = readAt(join(this.dir, attnFile(this.checkBlock(block))), this.checkRecord(id) * keys * 4, keys * 4);
    return new Float32Array(bytes.buffer, bytes.byteOffset, keys);
  }

  private checkBlock(b: number): number {
    if (!(Number.isInteger(b) && b >= 0 && b < this.manifest.blocks)) throw new Error(`block ${b} out of range 0..${this.manifest.blocks - 1}`);
    return b;
  }

  private checkRecord(id: number): number {
    if (!(Number.isInteger(id) && id >= 0 && id < this.manifest.records.length)) {
      throw new Error(`record ${id} out of range 0..${this.manifest.records.length - 1}`);
    }
    return id;
  }
}

function readAt(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, out, got, length - got, offset + got);
      if (n === 0) throw new Error(`${path}: truncated (wanted ${length} bytes at ${offset})`);
      got += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
