import { STAGING_USAGE, USAGE, createBufferChecked, mapCopy } from './buffers.ts';
import type { GpuContext } from './device.ts';

/** GPU time of one dispatch, from the timestamp pair written around its compute pass. */
export interface KernelTiming {
  /** KernelSpec.name */
  readonly name: string;
  /** the IR node it computes, `op#id` */
  readonly node: string;
  readonly ns: number;
  readonly flops?: number;
  readonly bytes?: number;
}

/** One line of the profile table: all dispatches of one kernel name. */
export interface ProfileRow {
  readonly name: string;
  readonly count: number;
  readonly totalMs: number;
  readonly percent: number;
  /** achieved rates over the dispatches that declared flops/bytes; undefined when none did */
  readonly gflops?: number;
  readonly gbps?: number;
}

/** Rows sorted by total time, largest first. */
export function aggregateTimings(timings: readonly KernelTiming[]): ProfileRow[] {
  type Acc = { count: number; ns: number; flops: number; flopNs: number; bytes: number; byteNs: number };
  const by = new Map<string, Acc>();
  for (const t of timings) {
    const r = by.get(t.name) ?? { count: 0, ns: 0, flops: 0, flopNs: 0, bytes: 0, byteNs: 0 };
    r.count++;
    r.ns += t.ns;
    if (t.flops !== undefined) {
      r.flops += t.flops;
      r.flopNs += t.ns;
    }
    if (t.bytes !== undefined) {
      r.bytes += t.bytes;
      r.byteNs += t.ns;
    }
    by.set(t.name, r);
  }
  const total = timings.reduce((a, t) => a + t.ns, 0);
  const rows = [...by].map(([name, r]): ProfileRow => ({
    name,
    count: r.count,
    totalMs: r.ns / 1e6,
    percent: total > 0 ? (100 * r.ns) / total : 0,
    // flop/ns = GFLOP/s and byte/ns = GB/s
    ...(r.flopNs > 0 ? { gflops: r.flops / r.flopNs } : {}),
    ...(r.byteNs > 0 ? { gbps: r.bytes / r.byteNs } : {}),
  }));
  return rows.sort((a, b) => b.totalMs - a.totalMs || a.name.localeCompare(b.name));
}

// three significant digits at any scale: software adapters run at MFLOP/s, an H100 at TFLOP/s
function rate(v: number | undefined): string {
  if (v === undefined) return '-';
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

const HEADER = ['kernel', 'count', 'total ms', '%', 'GFLOP/s', 'GB/s'];

/** A fixed-width table of aggregateTimings plus a total line. */
export function formatProfile(timings: readonly KernelTiming[]): string {
  const rows = aggregateTimings(timings);
  const totalMs = rows.reduce((a, r) => a + r.totalMs, 0);
  const cells = rows.map((r) => [
    r.name, String(r.count), r.totalMs.toFixed(3), r.percent.toFixed(1),
    rate(r.gflops), rate(r.gbps),
  ]);
  cells.push(['total', String(timings.length), totalMs.toFixed(3), rows.length ? '100.0' : '0.0', '', '']);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(HEADER), ...cells.map(line)].join('\n');
}

/** Timestamp queries around each dispatch's compute pass, resolved after the run into ns per step. */
export interface StepTimer {
  writes(step: number): GPUComputePassTimestampWrites;
  /** records the resolve and the copy into the staging buffer; call once, after the last pass */
  resolve(enc: GPUCommandEncoder): void;
  /** ns per step, after the encoder was submitted; frees the query sets and buffers */
  read(): Promise<number[]>;
}

// WebGPU caps a query set at 4096 queries: two per step, so 2048 steps per set
const QUERIES_PER_SET = 4096;

/** A timer for `steps` dispatches, or the reason there cannot be one. */
export async function createTimer(gpu: GpuContext, steps: number): Promise<StepTimer | string> {
  if (!gpu.device.features.has('timestamp-query')) return 'the device lacks the timestamp-query feature';
  const { device } = gpu;
  const sets: GPUQuerySet[] = [];
  for (let q = 0; q < 2 * steps; q += QUERIES_PER_SET) {
    sets.push(device.createQuerySet({ type: 'timestamp', count: Math.min(QUERIES_PER_SET, 2 * steps - q) }));
  }
  const bytes = Math.max(8, 16 * steps);
  const resolved = await createBufferChecked(gpu, bytes, USAGE.QUERY_RESOLVE | USAGE.COPY_SRC, 'timestamps');
  const staging = await createBufferChecked(gpu, bytes, STAGING_USAGE, 'timestamps-readback');
  const free = (): void => {
    for (const s of sets) s.destroy();
    resolved.destroy();
    staging.destroy();
  };
  return {
    writes: (i) => {
      const q = (2 * i) % QUERIES_PER_SET;
      const querySet = sets[Math.floor((2 * i) / QUERIES_PER_SET)]!;
      return { querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 };
    },
    resolve: (enc) => {
      sets.forEach((s, k) => enc.resolveQuerySet(s, 0, s.count, resolved, k * QUERIES_PER_SET * 8));
      enc.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    },
    read: async () => {
      try {
        const ticks = new BigUint64Array(await mapCopy(gpu, staging, bytes));
        // timestamps are ns; a pass may report end < begin on some drivers, which counts as 0
        return Array.from({ length: steps }, (_, i) => Math.max(0, Number(ticks[2 * i + 1]! - ticks[2 * i]!)));
      } finally {
        free();
      }
    },
  };
}
