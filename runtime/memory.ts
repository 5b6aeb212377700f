/**
 * GPU memory high-water mark per device: every buffer made through createBufferChecked (runtime/buffers.ts) counts
 * from creation until its destroy(), so planner slots, pools, uniforms, staging and timestamp buffers all show up.
 * Buffers made straight through device.createBuffer are not seen.
 */
export interface MemoryMeter {
  /** bytes of live tracked buffers now */
  readonly liveBytes: number;
  /** the most live bytes since the meter was created or last reset */
  readonly peakBytes: number;
  /** starts a new measurement at the current live bytes */
  resetPeak(): void;
}

class Meter implements MemoryMeter {
  liveBytes = 0;
  peakBytes = 0;
  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }
}

const METERS = new WeakMap<GPUDevice, Meter>();

export function memoryMeter(device: GPUDevice): MemoryMeter {
  let m = METERS.get(device);
  if (!m) {
    m = new Meter();
    METERS.set(device, m);
  }
  return m;
}

/** Counts `buf` until its first destroy(): the buffer's destroy is wrapped (Dawn's objects accept own properties). */
export function trackBuffer(device: GPUDevice, buf: GPUBuffer): GPUBuffer {
  const m = memoryMeter(device) as Meter;
  const size = buf.size;
  m.liveBytes += size;
  m.peakBytes = Math.max(m.peakBytes, m.liveBytes);
  const destroy = buf.destroy.bind(buf);
  let freed = false;
  Object.defineProperty(buf, 'destroy', {
    configurable: true,
    value: (): undefined => {
      if (!freed) {
        freed = true;
        m.liveBytes -= size;
      }
      return destroy();
    },
  });
  return buf;
}
