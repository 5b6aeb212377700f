import type { TensorType } from '../../ir/types.ts';
import { STORAGE_USAGE, USAGE, createBufferChecked, readTensor, storageBytes, uploadTensor } from '../../runtime/buffers.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { PipelineCache } from '../../runtime/pipeline-cache.ts';
import { createTimer } from '../../runtime/profile.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import type { KernelSpec } from '../../targets/wgsl/kernel.ts';

export interface TimeOptions {
  readonly warmup: number;
  readonly repeats: number;
  readonly elem: 'f32' | 'f16';
  /** read the result back after the timed runs (exactness checks) */
  readonly readOutput?: boolean;
}

export interface KernelTime {
  /** per timed dispatch, ms; GPU timestamps, or wall time around each submit where the device has none */
  readonly samplesMs: number[];
  readonly medianMs: number;
  readonly clock: 'gpu-timestamp' | 'wall';
  readonly output?: Tensor;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Uploads the operands once, then dispatches `spec` warmup + repeats times, one submit and one compute pass per
 * dispatch (so a slow kernel never queues seconds of work in one submit); only the last `repeats` are timed.
 */
export async function timeKernel(
  gpu: GpuContext, spec: KernelSpec, operands: readonly Tensor[], out: TensorType, o: TimeOptions,
): Promise<KernelTime> {
  const owned: GPUBuffer[] = [];
  const make = async (bytes: number, usage: number, label: string): Promise<GPUBuffer> => {
    const b = await createBufferChecked(gpu, Math.max(4, bytes), usage, label);
    owned.push(b);
    return b;
  };
  try {
    const { pipeline, layout } = await new PipelineCache(gpu).get(spec, operands.length);
    const entries: GPUBindGroupEntry[] = [];
    for (const [i, t] of operands.entries()) {
      const b = await make(storageBytes(t.type, o.elem), STORAGE_USAGE, `${spec.name}.x${i}`);
      uploadTensor(gpu, b, t, o.elem);
      entries.push({ binding: i, resource: { buffer: b } });
    }
    const y = await make(storageBytes(out, o.elem), STORAGE_USAGE, `${spec.name}.y`);
    entries.push({ binding: entries.length, resource: { buffer: y } });
    if (spec.uniforms) {
      const u = await make(Math.ceil(spec.uniforms.byteLength / 16) * 16 || 16, USAGE.UNIFORM | USAGE.COPY_DST, 'uniforms');
      const padded = new Uint8Array(u.size);
      padded.set(new Uint8Array(spec.uniforms));
      gpu.device.queue.writeBuffer(u, 0, padded);
      entries.push({ binding: entries.length, resource: { buffer: u } });
    }
    const bindGroup = gpu.device.createBindGroup({ label: spec.name, layout, entries });
    await gpu.device.queue.onSubmittedWorkDone();
    const samplesMs = await dispatchTimed(gpu, pipeline, bindGroup, spec.dispatch, o);
    const clock = gpu.device.features.has('timestamp-query') ? 'gpu-timestamp' : 'wall';
    const output = o.readOutput ? await readTensor(gpu, y, out, o.elem) : undefined;
    return { samplesMs, medianMs: median(samplesMs), clock, ...(output ? { output } : {}) };
  } finally {
    for (const b of owned) b.destroy();
  }
}

async function dispatchTimed(
  gpu: GpuContext, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, grid: readonly [number, number, number],
  o: TimeOptions,
): Promise<number[]> {
  const total = o.warmup + Math.max(1, o.repeats);
  const timer = await createTimer(gpu, total);
  const wall: number[] = [];
  for (let i = 0; i < total; i++) {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass(typeof timer === 'string' ? {} : { timestampWrites: timer.writes(i) });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...grid);
    pass.end();
    const t0 = performance.now();
    gpu.device.pushErrorScope('validation');
    gpu.device.queue.submit([enc.finish()]);
    const invalid = await gpu.device.popErrorScope();
    if (invalid) throw new Error(`dispatch failed: ${invalid.message}`);
    await gpu.device.queue.onSubmittedWorkDone();
    wall.push(performance.now() - t0);
  }
  if (typeof timer === 'string') return wall.slice(o.warmup);
  const enc = gpu.device.createCommandEncoder();
  timer.resolve(enc);
  gpu.device.queue.submit([enc.finish()]);
  return (await timer.read()).slice(o.warmup).map((ns) => ns / 1e6);
}
