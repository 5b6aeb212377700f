import { emitCuda } from '../compiler/compile/emit-cuda.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { isFloat } from '../ir/dtype.ts';
import { carryInputs, carryPairs } from '../ir/carry.ts';
import { params, type Graph } from '../ir/graph.ts';
import { attr } from '../ir/node.ts';
import { formatType, sameShape } from '../ir/types.ts';
import { emitCudaRunner } from '../targets/cuda/runner.ts';
import type { LowerContext } from '../targets/target.ts';
import { decodeTensor, encodeTensor } from './buffers.ts';
import { buildCudaRunner, type CudaBuildOptions } from './cuda-build.ts';
import { CudaProcess, type CudaRunnerSpec } from './cuda-process.ts';
import type { KernelTiming } from './profile.ts';
import type { Tensor } from './tensor.ts';

export interface CudaRunnerOptions extends CudaBuildOptions {
  /** storage type; the CUDA slice stores floats as f32 only */
  readonly dtype?: 'f32' | 'f16';
  /** forced kernel variants by op (e.g. `{ attention: 'f32' }`: the f32 flash kernel instead of the tensor-core one) */
  readonly variant?: LowerContext['variant'];
}

/** `time` in the WGSL profile's terms (runtime/profile.ts) plus the whole forward's median. */
export interface CudaTimes {
  readonly forwardMs: number;
  readonly timings: KernelTiming[];
}

/**
 * A lowered graph running through CUDA: runner.cu (targets/cuda/runner.ts) built once per source hash, one child
 * process (runtime/cuda-process.ts) holding the weights on the device for as many forwards as the caller asks.
 */
export class CudaRunner {
  private constructor(readonly graph: Graph, private readonly proc: CudaProcess) {}

  /** Emits, builds (nvcc, or g++ with `emulate`), starts the runner and uploads `weights`' params once. */
  static async open(graph: Graph, weights: Weights, opts: CudaRunnerOptions = {}): Promise<CudaRunner> {
    if (opts.dtype === 'f16') throw new Error('the CUDA backend stores floats as f32 only: drop --dtype f16');
    const { source, spec } = emitCudaRunner(graph, emitCuda(graph, 'f32', opts.variant));
    const params = paramTensors(graph, weights, spec);
    const exe = buildCudaRunner(source, opts);
    const proc = await CudaProcess.start(exe, spec, opts);
    try {
      await proc.uploadParams((i) => new Uint8Array(encodeTensor(params(i), 'f32')));
    } catch (e) {
      proc.close();
      throw e;
    }
    return new CudaRunner(graph, proc);
  }

  /** The device the child found (its name, compute capability and buffer total). */
  get device(): string {
    return this.proc.device;
  }

  get spec(): CudaRunnerSpec {
    return this.proc.spec;
  }

  /** The child's process id (tests kill it to check that a crash comes back as an error). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Inputs by name → the graph's outputs (floats as f32). Not reentrant: await one call before the next. */
  async forward(inputs: Readonly<Record<string, Tensor>>): Promise<Tensor[]> {
    const outs = await this.proc.forward(encodeInputs(this.graph, inputs));
    return this.decode(outs);
  }

  /**
   * A forward with the carried state (ir/carry.ts) kept on the device: the inputs but the carries by name → the
   * outputs before the carries. The carries start at zero and each step's next values feed the following step.
   */
  async step(inputs: Readonly<Record<string, Tensor>>): Promise<Tensor[]> {
    carryPairs(this.graph); // carry inputs without their next values among the outputs: an error naming them
    const carried = new Set(carryInputs(this.graph));
    const fresh = this.graph.inputs.filter((n) => !carried.has(n));
    const outs = await this.proc.step(encodeInputs(this.graph, inputs, fresh));
    return this.decode(outs);
  }

  /** The first outs.length outputs from the child's storage bytes (all of them, or those before the carries). */
  private decode(outs: readonly Uint8Array[]): Tensor[] {
    return outs.map((b, i) => decodeTensor(this.graph.outputs[i]!.type,
      b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, 'f32'));
  }

  /** One forward on `inputs`, then median CUDA-event times of each launch and of the whole forward. */
  async time(inputs: Readonly<Record<string, Tensor>>, warmup = 3, repeats = 10): Promise<CudaTimes> {
    await this.forward(inputs);
    const t = await this.proc.time(warmup, repeats);
    const timings = this.spec.steps.map((s, i) => ({
      name: s.name, node: s.node, ns: t.stepMs[i]! * 1e6, ...(s.flops !== undefined ? { flops: s.flops } : {}),
    }));
    return { forwardMs: t.forwardMs, timings };
  }

  close(): void {
    this.proc.close();
  }
}

// float dtypes share one storage type, so a f32 host tensor may feed a f16/bf16 leaf (as in runtime/executor.ts)
function checkTensor(what: string, want: Graph['inputs'][number], t: Tensor): void {
  const dtypeOk = t.type.dtype === want.type.dtype || (isFloat(t.type.dtype) && isFloat(want.type.dtype));
  if (!dtypeOk || !sameShape(t.type.shape, want.type.shape)) {
    throw new Error(`${what}: expected ${formatType(want.type)}, got ${formatType(t.type)}`);
  }
}

/** `inputs` as storage bytes in the order of `leaves` (the graph's inputs, or those a step sends). */
function encodeInputs(g: Graph, inputs: Readonly<Record<string, Tensor>>, leaves = g.inputs): Uint8Array[] {
  const names = leaves.map((n) => attr<string>(n, 'name'));
  const extra = Object.keys(inputs).filter((k) => !names.includes(k));
  if (extra.length) throw new Error(`unknown inputs: ${extra.join(', ')} (graph takes ${names.join(', ')})`);
  return leaves.map((n, i) => {
    const t = inputs[names[i]!];
    if (!t) throw new Error(`missing input '${names[i]}' (${formatType(n.type)})`);
    checkTensor(`input '${names[i]}'`, n, t);
    return new Uint8Array(encodeTensor(t, 'f32'));
  });
}

// checked up front (a missing param fails before any build); tensors are fetched as they are streamed
function paramTensors(g: Graph, weights: Weights, spec: CudaRunnerSpec): (i: number) => Tensor {
  const leaves = new Map(params(g).map((n) => [attr<string>(n, 'name'), n]));
  const have = new Set(weights.names());
  const missing = spec.params.filter((p) => !have.has(p.name)).map((p) => `${p.name} ${p.dtype}[${p.shape.join(',')}]`);
  if (missing.length) {
    throw new Error(`weights lack ${missing.length} param(s) of graph '${g.name}': ${missing.join(', ')}`);
  }
  return (i) => {
    const p = spec.params[i]!;
    const t = weights.get(p.name);
    if (!t) throw new Error(`weights lack param '${p.name}'`);
    checkTensor(`param '${p.name}'`, leaves.get(p.name)!, t);
    return t;
  };
}
