import { expect } from 'vitest';
import { mulberry32 } from '../../../compiler/data/prng.ts';
import { roundF16 } from '../../../compiler/weights/f16.ts';
import type { Weights } from '../../../compiler/weights/weights.ts';
import type { DType } from '../../../ir/dtype.ts';
import { graph } from '../../../ir/graph.ts';
import { node, type Node } from '../../../ir/node.ts';
import type { Attrs, Op } from '../../../ir/ops.ts';
import { numel, type Shape, type TensorType } from '../../../ir/types.ts';
import { decodeTensor, encodeTensor, storageBytes } from '../../../runtime/buffers.ts';
import { openDevice, type GpuContext } from '../../../runtime/device.ts';
import { runReference } from '../../../runtime/reference.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import type { LowerContext } from '../../../targets/target.ts';
import type { KernelSpec } from '../../../targets/wgsl/kernel.ts';
import { lowerNode } from '../../../targets/wgsl/select.ts';

/** One Dawn device for the whole test file (openDevice pins the create() object on globalThis). */
let opened: Promise<GpuContext | undefined> | undefined;
export function gpu(): Promise<GpuContext | undefined> {
  opened ??= openDevice().catch(() => undefined);
  return opened;
}

export const gpuCtx = await gpu();
export const hasGpu = gpuCtx !== undefined;
export const hasF16 = gpuCtx?.caps.hasF16 === true;

/** The Dawn device's context; `variant` forces kernel variants (e.g. `{ linear: 'tiled' }`) instead of caps. */
export function lowerCtx(elem: 'f32' | 'f16', variant?: LowerContext['variant']): LowerContext {
  if (!gpuCtx) throw new Error('no WebGPU device');
  return { elem, caps: gpuCtx.caps, ...(variant ? { variant } : {}) };
}

/** Uniform [0, 1) stream for test data: the project's documented mulberry32 (compiler/data/prng.ts). */
export function rng(seed: number): () => number {
  return mulberry32(seed >>> 0).next;
}

/** Random tensor: floats uniform in [lo, hi) (rounded to f16 when the dtype is f16), ints in [lo, hi], bools 0/1. */
export function randomTensor(r: () => number, dtype: DType, shape: Shape, lo = -2, hi = 2): Tensor {
  const n = numel(shape);
  const type: TensorType = { dtype, shape };
  if (dtype === 'bool') return tensor(type, Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)));
  if (dtype === 'i32') return tensor(type, Int32Array.from({ length: n }, () => Math.floor(lo + r() * (hi - lo + 1))));
  const f = (x: number): number => (dtype === 'f16' ? roundF16(x) : x);
  return tensor(type, Float32Array.from({ length: n }, () => f(lo + r() * (hi - lo))));
}

export function input(name: string, dtype: DType, shape: Shape): Node {
  return node('input', [], { name }, { dtype, shape });
}

const NO_WEIGHTS: Weights = { get: () => undefined, names: () => [] };

/** The node evaluated by the CPU reference; operands must be `input` leaves named in `inputs`. */
export function reference(n: Node, inputs: Record<string, Tensor>): Tensor {
  const leaves = n.src.filter((s, i) => n.src.indexOf(s) === i);
  return runReference(graph('t', leaves, [n]), inputs, NO_WEIGHTS)[0]!;
}

/** Dispatches one kernel on Dawn with the operands uploaded in order and returns the result. */
export async function runKernel(spec: KernelSpec, operands: readonly Tensor[], out: TensorType, elem: 'f32' | 'f16'):
Promise<Tensor> {
  const g = gpuCtx!;
  const dev = g.device;
  const S = 0x80 | 0x4 | 0x8;
  dev.pushErrorScope('validation');
  const module = dev.createShaderModule({ code: spec.source });
  const info = await module.getCompilationInfo();
  const errs = info.messages.filter((m) => m.type === 'error');
  if (errs.length) throw new Error(`${spec.name}: ${errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('\n')}`);
  const pipeline = await dev.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: spec.entry } });
  const upload = (bytes: ArrayBuffer): GPUBuffer => {
    const b = dev.createBuffer({ size: Math.max(4, bytes.byteLength), usage: S });
    dev.queue.writeBuffer(b, 0, bytes);
    return b;
  };
  const ins = operands.map((t) => upload(encodeTensor(t, elem)));
  const outBytes = storageBytes(out, elem);
  const outBuf = dev.createBuffer({ size: Math.max(4, outBytes), usage: S });
  const bufs = [...ins, outBuf];
  if (spec.uniforms) bufs.push(upload(spec.uniforms));
  const bind = dev.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const staging = dev.createBuffer({ size: Math.max(4, outBytes), usage: 0x1 | 0x8 });
  const enc = dev.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(...spec.dispatch);
  pass.end();
  enc.copyBufferToBuffer(outBuf, 0, staging, 0, Math.max(4, outBytes));
  dev.queue.submit([enc.finish()]);
  const err = await dev.popErrorScope();
  if (err) throw new Error(`${spec.name}: ${err.message}`);
  await staging.mapAsync(0x1);
  const bytes = staging.getMappedRange().slice(0);
  staging.unmap();
  for (const b of [...bufs, staging]) b.destroy();
  return decodeTensor(out, bytes, elem);
}

/** Lowers `n`, runs it on Dawn and returns [gpu, reference]. */
export async function runBoth(n: Node, inputs: Record<string, Tensor>, elem: 'f32' | 'f16' = 'f32',
  variant?: LowerContext['variant']): Promise<[Tensor, Tensor, KernelSpec]> {
  const spec = lowerNode(n, lowerCtx(elem, variant));
  const operands = n.src.map((s) => inputs[s.attrs['name'] as string]!);
  const got = await runKernel(spec, operands, n.type, elem);
  return [got, reference(n, inputs), spec];
}

export interface Tol {
  readonly rtol: number;
  readonly atol: number;
}
export const TOL_F32: Tol = { rtol: 1e-5, atol: 1e-5 };
export const TOL_ACC: Tol = { rtol: 1e-4, atol: 1e-4 };
export const TOL_F16: Tol = { rtol: 2e-2, atol: 2e-2 };

/** |got − want| ≤ atol + rtol·|want| elementwise, NaN matching NaN; reports the worst element. */
export function expectClose(got: Tensor, want: Tensor, tol: Tol): void {
  expect(got.type.shape).toEqual(want.type.shape);
  expect(got.data.length).toBe(want.data.length);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.data.length; i++) {
    const [g, w] = [Number(got.data[i]), Number(want.data[i])];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    const err = Math.abs(g - w) - tol.rtol * Math.abs(w);
    if (!(err <= tol.atol) && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    const off = (w: number, i: number): boolean => !(Math.abs(Number(got.data[i]) - w) - tol.rtol * Math.abs(w) <= tol.atol);
    const bad = Array.from(want.data, Number).filter(off).length;
    throw new Error(`mismatch at ${worst}: got ${got.data[worst]}, want ${want.data[worst]} (${bad} of ${want.data.length} off)`);
  }
}

/** Builds a node over fresh inputs named a, b, c, … and random data for them. */
export function opCase(op: Op, operands: readonly [DType, Shape][], attrs: Attrs, seed: number, range?: [number, number]):
{ n: Node; inputs: Record<string, Tensor> } {
  const r = rng(seed);
  const names = operands.map((_, i) => String.fromCharCode(97 + i));
  const leaves = operands.map(([d, s], i) => input(names[i]!, d, s));
  const inputs: Record<string, Tensor> = {};
  operands.forEach(([d, s], i) => (inputs[names[i]!] = randomTensor(r, d, s, ...(range ?? [-2, 2]))));
  return { n: node(op, leaves, attrs), inputs };
}
