import { carryPairs } from '../ir/carry.ts';
import type { Graph } from '../ir/graph.ts';
import { attr, type Node } from '../ir/node.ts';
import { formatType, sameShape } from '../ir/types.ts';
import { isFloat } from '../ir/dtype.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { lowerNode } from '../targets/wgsl/select.ts';
import {
  BufferPool, STAGING_USAGE, USAGE, createBufferChecked, decodeTensor, fillBytes, mapCopy, storageBytes, uploadTensor,
} from './buffers.ts';
import { checkDevice, type GpuContext } from './device.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { createTimer, type KernelTiming, type StepTimer } from './profile.ts';
import type { Tensor } from './tensor.ts';
import { planWgsl, type Lower, type WgslProgram } from './wgsl-program.ts';

export interface ExecutorOptions {
  readonly elem: 'f32' | 'f16';
  /** per-node kernel choice; defaults to targets/wgsl/select.ts (tests inject hand-written kernels) */
  readonly lower?: Lower;
}

export interface RunOptions {
  /** per-dispatch GPU time through timestamp queries (one compute pass per dispatch) */
  readonly profile?: boolean;
}

export interface RunResult {
  /** the graph's outputs in order; float outputs widened to f32 */
  readonly outputs: Tensor[];
  readonly timings?: KernelTiming[];
  /** why `timings` is absent although a profile was asked for */
  readonly timingsUnavailable?: string;
}

interface EncodedStep {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly dispatch: readonly [number, number, number];
  readonly timing: Omit<KernelTiming, 'ns'>;
}

// flush Dawn's upload staging every so often, so streaming a multi-GB preset never queues it all at once
const UPLOAD_FLUSH_BYTES = 256 * 2 ** 20;

/** Runs one planned graph on a Dawn device: params uploaded once, then one command encoder per run. */
export class WgslExecutor {
  private readonly staging: BufferPool;
  private running = false;
  private disposed = false;

  private constructor(
    private readonly gpu: GpuContext,
    readonly program: WgslProgram,
    private readonly buffers: GPUBuffer[],
    private readonly steps: EncodedStep[],
    private readonly uniforms: GPUBuffer[],
  ) {
    this.staging = new BufferPool(gpu);
  }

  static async create(gpu: GpuContext, g: Graph, weights: Weights, opts: ExecutorOptions): Promise<WgslExecutor> {
    checkDevice(gpu);
    if (opts.elem === 'f16' && !gpu.caps.hasF16) {
      throw new Error(`elem f16 needs the shader-f16 feature, which ${gpu.caps.adapter.description} lacks`);
    }
    const program = planWgsl(g, { elem: opts.elem, caps: gpu.caps }, opts.lower ?? lowerNode);
    checkParams(program, weights);
    const buffers: GPUBuffer[] = [];
    const uniforms: GPUBuffer[] = [];
    try {
      for (const b of program.buffers) buffers.push(await createBufferChecked(gpu, b.bytes, storageUsage(), b.label));
      await uploadLeaves(gpu, program, buffers, weights);
      const steps = await encodeSteps(gpu, program, buffers, uniforms);
      return new WgslExecutor(gpu, program, buffers, steps, uniforms);
    } catch (e) {
      for (const b of [...buffers, ...uniforms]) b.destroy();
      throw e;
    }
  }

  /** Not reentrant: runs share the input and activation buffers, so await one before starting the next. */
  async run(inputs: Readonly<Record<string, Tensor>>, opts: RunOptions = {}): Promise<RunResult> {
    return this.runWith(inputs, opts, false);
  }

  /**
   * A run with the carried state (ir/carry.ts) kept on the device: the inputs but the carries → the outputs before
   * the carries. The carries start at zero (fresh buffers) and each step copies their next values into them.
   */
  async step(inputs: Readonly<Record<string, Tensor>>, opts: RunOptions = {}): Promise<RunResult> {
    return this.runWith(inputs, opts, true);
  }

  private async runWith(
    inputs: Readonly<Record<string, Tensor>>, opts: RunOptions, carry: boolean,
  ): Promise<RunResult> {
    if (this.disposed) throw new Error(`executor for graph '${this.program.graph.name}' is disposed`);
    if (this.running) throw new Error('WgslExecutor.run is not reentrant: await the previous run first');
    checkDevice(this.gpu);
    this.running = true;
    try {
      const pairs = carry ? carryPairs(this.program.graph) : [];
      this.uploadInputs(inputs, new Set(pairs.map((c) => c.input)));
      const timer = opts.profile ? await createTimer(this.gpu, this.steps.length) : undefined;
      if (typeof timer === 'string') return { ...(await this.execute(undefined, pairs)), timingsUnavailable: timer };
      return await this.execute(timer, pairs);
    } finally {
      this.running = false;
    }
  }

  dispose(): void {
    this.disposed = true;
    for (const b of [...this.buffers, ...this.uniforms]) b.destroy();
    this.buffers.length = 0;
    this.uniforms.length = 0;
    this.staging.dispose();
  }

  /** The steps, then with `carries` each carry's next value copied into its input, then the outputs before them. */
  private async execute(timer: StepTimer | undefined, carries: ReturnType<typeof carryPairs> = []): Promise<RunResult> {
    const { device } = this.gpu;
    const enc = device.createCommandEncoder({ label: this.program.graph.name });
    if (timer) {
      this.steps.forEach((s, i) => {
        const pass = enc.beginComputePass({ timestampWrites: timer.writes(i) });
        dispatch(pass, s);
        pass.end();
      });
      timer.resolve(enc);
    } else {
      const pass = enc.beginComputePass();
      for (const s of this.steps) dispatch(pass, s);
      pass.end();
    }
    const { graph, bufferOf } = this.program;
    for (const c of carries) {
      const [from, to] = [bufferOf.get(graph.outputs[c.output]!)!, bufferOf.get(c.input)!];
      const [src, dst] = [this.buffers[from]!, this.buffers[to]!];
      if (from !== to) enc.copyBufferToBuffer(src, 0, dst, 0, Math.min(src.size, dst.size));
    }
    const outs = graph.outputs.slice(0, graph.outputs.length - carries.length);
    const staged = await Promise.all(outs.map((o) => this.stageOutput(enc, o)));
    await submitChecked(this.gpu, enc.finish());
    const outputs = await Promise.all(outs.map(async (o, i) => {
      const { buf, bytes } = staged[i]!;
      const data = await mapCopy(this.gpu, buf, bytes);
      this.staging.release(buf);
      return decodeTensor(o.type, data, this.program.elem);
    }));
    if (!timer) return { outputs };
    const ns = await timer.read();
    const timings = this.steps.map((s, i) => ({ ...s.timing, ns: ns[i]! }));
    return { outputs, timings };
  }

  private async stageOutput(enc: GPUCommandEncoder, o: Node): Promise<{ buf: GPUBuffer; bytes: number }> {
    const bytes = Math.max(4, storageBytes(o.type, this.program.elem));
    const buf = await this.staging.acquire(bytes, STAGING_USAGE, `readback(${o.op}#${o.id})`);
    enc.copyBufferToBuffer(this.buffers[this.program.bufferOf.get(o)!]!, 0, buf, 0, bytes);
    return { buf, bytes };
  }

  /** Uploads every input but `kept` (carries that stay on the device); throws on a missing or unknown one. */
  private uploadInputs(inputs: Readonly<Record<string, Tensor>>, kept: ReadonlySet<Node> = new Set()): void {
    const expected = new Set<string>();
    for (const b of this.program.buffers) {
      if (b.kind !== 'input' || kept.has(b.leaf!)) continue;
      const leaf = b.leaf!;
      const name = attr<string>(leaf, 'name');
      expected.add(name);
      const t = inputs[name];
      if (!t) throw new Error(`missing input '${name}' (${formatType(leaf.type)})`);
      checkType(`input '${name}'`, leaf, t);
      uploadTensor(this.gpu, this.buffers[b.index]!, t, this.program.elem);
    }
    const extra = Object.keys(inputs).filter((k) => !expected.has(k));
    if (extra.length) throw new Error(`unknown inputs: ${extra.join(', ')} (graph takes ${[...expected].join(', ')})`);
  }
}

function dispatch(pass: GPUComputePassEncoder, s: EncodedStep): void {
  pass.setPipeline(s.pipeline);
  pass.setBindGroup(0, s.bindGroup);
  pass.dispatchWorkgroups(...s.dispatch);
}

function storageUsage(): number {
  return USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
}

/** Validation and OOM errors of a submit become this run's Error instead of an uncaptured event. */
async function submitChecked(gpu: GpuContext, cmd: GPUCommandBuffer): Promise<void> {
  const { device } = gpu;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  device.queue.submit([cmd]);
  const invalid = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (oom) throw new Error(`GPU out of memory during run: ${oom.message}`);
  if (invalid) throw new Error(`WebGPU validation error during run: ${invalid.message}`);
  checkDevice(gpu);
}

// float dtypes share one storage type (elem), so a f32 host tensor may feed a f16/bf16 leaf and vice versa
function checkType(what: string, leaf: Node, t: Tensor): void {
  const dtypeOk = t.type.dtype === leaf.type.dtype || (isFloat(t.type.dtype) && isFloat(leaf.type.dtype));
  if (!dtypeOk || !sameShape(t.type.shape, leaf.type.shape)) {
    throw new Error(`${what}: expected ${formatType(leaf.type)}, got ${formatType(t.type)}`);
  }
}

function checkParams(program: WgslProgram, weights: Weights): void {
  const have = new Set(weights.names());
  const missing = program.buffers
    .filter((b) => b.kind === 'param' && !have.has(attr<string>(b.leaf!, 'name')))
    .map((b) => `${attr<string>(b.leaf!, 'name')} ${formatType(b.leaf!.type)}`);
  if (missing.length) {
    throw new Error(`weights lack ${missing.length} param(s) of graph '${program.graph.name}': ${missing.join(', ')}`);
  }
}

/** Params one tensor at a time (the host never holds a whole preset), consts from their fill value. */
async function uploadLeaves(
  gpu: GpuContext, program: WgslProgram, buffers: GPUBuffer[], weights: Weights,
): Promise<void> {
  let pending = 0;
  for (const b of program.buffers) {
    const leaf = b.leaf;
    if (!leaf || b.kind === 'input') continue;
    if (b.kind === 'const') {
      const value = leaf.attrs['value'];
      if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(`const #${leaf.id} has no value`);
      gpu.device.queue.writeBuffer(buffers[b.index]!, 0, fillBytes(leaf.type, value, program.elem));
    } else {
      const name = attr<string>(leaf, 'name');
      const t = weights.get(name);
      if (!t) throw new Error(`weights lack param '${name}' (${formatType(leaf.type)})`);
      checkType(`param '${name}'`, leaf, t);
      uploadTensor(gpu, buffers[b.index]!, t, program.elem);
    }
    pending += b.bytes;
    if (pending >= UPLOAD_FLUSH_BYTES) {
      await gpu.device.queue.onSubmittedWorkDone();
      pending = 0;
    }
  }
  await gpu.device.queue.onSubmittedWorkDone();
}

async function encodeSteps(
  gpu: GpuContext, program: WgslProgram, buffers: GPUBuffer[], uniforms: GPUBuffer[],
): Promise<EncodedStep[]> {
  const cache = new PipelineCache(gpu);
  const uniformOf = new Map<string, GPUBuffer>();
  const pipelines = await Promise.all(program.steps.map((s) => cache.get(s.kernel, s.node.src.length)));
  const steps: EncodedStep[] = [];
  for (const [i, s] of program.steps.entries()) {
    const bind = (b: number, n: Node): GPUBindGroupEntry['resource'] => ({
      buffer: buffers[b]!, offset: 0, size: Math.max(4, storageBytes(n.type, program.elem)),
    });
    const entries: GPUBindGroupEntry[] = s.node.src.map((src, k) => ({
      binding: k, resource: bind(s.inputBuffers[k]!, src),
    }));
    entries.push({ binding: entries.length, resource: bind(s.outputBuffer, s.node) });
    if (s.kernel.uniforms) {
      const u = await uniformBuffer(gpu, s.kernel.uniforms, uniformOf, uniforms);
      entries.push({ binding: entries.length, resource: { buffer: u } });
    }
    gpu.device.pushErrorScope('validation');
    const bindGroup = gpu.device.createBindGroup({ label: s.kernel.name, layout: pipelines[i]!.layout, entries });
    const invalid = await gpu.device.popErrorScope();
    if (invalid) throw new Error(`kernel ${s.kernel.name} for ${s.node.op}#${s.node.id}: ${invalid.message}`);
    const timing = {
      name: s.kernel.name, node: `${s.node.op}#${s.node.id}`,
      ...(s.kernel.flops !== undefined ? { flops: s.kernel.flops } : {}),
      ...(s.kernel.bytes !== undefined ? { bytes: s.kernel.bytes } : {}),
    };
    steps.push({ pipeline: pipelines[i]!.pipeline, bindGroup, dispatch: s.kernel.dispatch, timing });
  }
  return steps;
}

// identical uniform contents (same op, same shapes) share one buffer
async function uniformBuffer(
  gpu: GpuContext, data: ArrayBuffer, pool: Map<string, GPUBuffer>, all: GPUBuffer[],
): Promise<GPUBuffer> {
  const key = Buffer.from(data).toString('base64');
  let buf = pool.get(key);
  if (!buf) {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    buf = await createBufferChecked(gpu, size, USAGE.UNIFORM | USAGE.COPY_DST, 'uniforms');
    all.push(buf);
    const padded = new Uint8Array(size);
    padded.set(new Uint8Array(data));
    gpu.device.queue.writeBuffer(buf, 0, padded);
    pool.set(key, buf);
  }
  return buf;
}
