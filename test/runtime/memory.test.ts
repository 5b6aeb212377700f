import { describe, expect, it } from 'vitest';
import { createBufferChecked, STORAGE_USAGE } from '../../runtime/buffers.ts';
import { openDevice } from '../../runtime/device.ts';
import { memoryMeter } from '../../runtime/memory.ts';

const gpu = await openDevice().catch(() => undefined);

describe.skipIf(!gpu)('GPU memory high-water mark (runtime/memory.ts)', () => {
  it('counts checked buffers from creation to their first destroy and keeps the peak', async () => {
    const m = memoryMeter(gpu!.device);
    m.resetPeak();
    const live0 = m.liveBytes;
    const a = await createBufferChecked(gpu!, 4096, STORAGE_USAGE, 'a');
    const b = await createBufferChecked(gpu!, 1024, STORAGE_USAGE, 'b');
    expect(m.liveBytes - live0).toBe(5120);
    a.destroy();
    a.destroy(); // a second destroy must not count twice
    expect(m.liveBytes - live0).toBe(1024);
    expect(m.peakBytes - live0).toBe(5120);
    b.destroy();
    m.resetPeak();
    expect(m.peakBytes).toBe(live0);
  });
});
