/**
 * The CUDA runtime's process side: builds a runner.cu (targets/cuda/runner.ts) once per source hash and talks to the
 * running program over its stdin/stdout. A persistent subprocess rather than an N-API addon: the GPU host needs no
 * node-gyp or Node headers (nvcc alone), a CUDA fault or a lost device kills only the child and comes back as an
 * Error here, the same host program runs under the tests' CPU emulation (g++ against cuda-host.h) where CI has no
 * GPU, and one process serves a whole sampling loop: weights are uploaded once, no start-up per forward.
 *
 * Protocol (all integers little-endian u32; a part is `u32 length, length bytes`):
 *   request  = op, count, count × part            op: 1 params, 2 forward, 3 time, 4 quit (no answer), 5 step
 *   response = status, count, count × part        status 0 ok; 1 error: one part, the UTF-8 message
 * The child speaks first: a hello response (ok: one part, the device's description; error: no device, or
 * cudaMalloc failed). `params` carries one part per spec.params in order, `forward` one per spec.inputs, each in
 * storage bytes (runtime/buffers.ts encodeTensor, f32); the forward answer is one part per spec.outputs. `time`
 * carries one 8-byte part (u32 warm-ups, u32 repeats) and reruns the last forward's inputs; its answer is one part
 * of f64 milliseconds: each step's median, then the whole forward's median. `step` is a forward whose carried
 * state (ir/carry.ts) stays on the device: one part per spec input that is not a carry (`carry.*`), the carries
 * read from their device buffers (zero before the first forward), each carry's next value copied into its input
 * buffer after the run, and the answer only the outputs before the carries (the model's own). A bad request (wrong
 * part count or length) is answered with an error and the child keeps serving; a CUDA error is answered, then the
 * child exits.
 *
 * emit-run.ts inlines this module into compiled folders' run.js: node builtins only, imported as namespaces so their
 * names never clash with the other inlined modules' imports. Building the runner is runtime/cuda-build.ts.
 */
import * as childProcess from 'node:child_process';
import { CARRY_PREFIX } from '../ir/carry.ts';
import type { CudaBuildOptions } from './cuda-build.ts';

export const CUDA_RUNNER_FORMAT = 'vdit-cuda-runner/1';
export const RUNNER_OPS = { params: 1, forward: 2, time: 3, quit: 4, step: 5 } as const;
export type RunnerOp = keyof typeof RUNNER_OPS;

export interface CudaRunnerTensor {
  /** param or input name; `output<i>` for outputs */
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** storage bytes (runtime/buffers.ts storageBytes, f32) */
  readonly bytes: number;
}

/** What a runner.cu expects on its pipes (written beside it as cuda/runner.json by `vdit compile --target cuda`). */
export interface CudaRunnerSpec {
  readonly format: string;
  readonly graph: string;
  readonly params: readonly CudaRunnerTensor[];
  readonly inputs: readonly CudaRunnerTensor[];
  readonly outputs: readonly CudaRunnerTensor[];
  /** the launches in order: kernel name and the node it computes (`op#position`) */
  readonly steps: readonly { readonly name: string; readonly node: string; readonly flops?: number }[];
  /** device bytes of all buffers */
  readonly deviceBytes: number;
  /** how those bytes split (targets/cuda/runner-buffers.ts); absent in runner.json written before the plan */
  readonly buffers?: CudaBufferPlan;
}

/** The runner's device memory: own buffers for params, inputs and outputs; activations share liveness slots. */
export interface CudaBufferPlan {
  readonly totalBytes: number;
  readonly paramBytes: number;
  /** inputs and graph outputs */
  readonly ioBytes: number;
  /** the shared activation slots */
  readonly tempBytes: number;
  readonly slots: number;
  /** what one buffer per activation would have taken */
  readonly unsharedTempBytes: number;
}

/** `7230.0 MiB of buffers: params 5784.0, in/out 12.1, activations 1433.8 in 7 slots (one per value: 117833.0)`. */
export function formatBufferPlan(p: CudaBufferPlan): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(b >= 2 ** 20 ? 1 : 3);
  return `${mib(p.totalBytes)} MiB of buffers: params ${mib(p.paramBytes)}, in/out ${mib(p.ioBytes)}, activations ` +
    `${mib(p.tempBytes)} in ${p.slots} slots (one per value: ${mib(p.unsharedTempBytes)})`;
}

/** One `time` answer: median milliseconds per step (spec.steps order) and of the whole forward. */
export interface CudaStepTimes {
  readonly stepMs: number[];
  readonly forwardMs: number;
}

interface Pending {
  readonly op: RunnerOp | 'hello';
  readonly resolve: (parts: Uint8Array[]) => void;
  readonly reject: (e: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** A running runner: requests are answered in order; any failure of the child rejects what is pending. */
export class CudaProcess {
  device = '';
  private readonly child: childProcess.ChildProcessWithoutNullStreams;
  private readonly pending: Pending[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** bytes the next response needs at least */
  private need = 8;
  private stderr = '';
  private dead: Error | undefined;

  private constructor(exe: string, readonly spec: CudaRunnerSpec, private readonly timeoutMs: number) {
    this.child = childProcess.spawn(exe, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => this.onData(d));
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    this.child.stdin.on('error', () => undefined);  // EPIPE after a crash: the exit handler reports it
    this.child.on('error', (e) => this.fail(new Error(`cuda runner ${exe} could not start: ${e.message}`)));
    this.child.on('exit', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const err = this.stderr.trim();
      this.fail(new Error(`cuda runner ${how}${err ? `: ${err}` : ' (no message on stderr)'}`));
    });
  }

  /** Starts `exe` and waits for its hello (the device, or why there is none). */
  static async start(exe: string, spec: CudaRunnerSpec, opts: CudaBuildOptions = {}): Promise<CudaProcess> {
    if (spec.format !== CUDA_RUNNER_FORMAT) {
      throw new Error(`runner spec format '${spec.format}' is not ${CUDA_RUNNER_FORMAT}`);
    }
    const p = new CudaProcess(exe, spec, opts.timeoutMs ?? 600_000);
    try {
      const [name] = await p.expect('hello');
      p.device = Buffer.from(name!).toString('utf8');
    } catch (e) {
      p.close();
      throw e;
    }
    return p;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Params in spec.params order, produced one at a time by `param(i)` and streamed with back-pressure, so the host
   * never holds more than one encoded tensor of a multi-GB model.
   */
  async uploadParams(param: (i: number) => Uint8Array): Promise<void> {
    if (this.dead) throw this.dead;
    const answer = this.expect('params');
    const head = Buffer.alloc(8);
    head.writeUInt32LE(RUNNER_OPS.params, 0);
    head.writeUInt32LE(this.spec.params.length, 4);
    try {
      await this.write(head);
      for (let i = 0; i < this.spec.params.length && !this.dead; i++) {
        const p = param(i);
        checkParts('param', [this.spec.params[i]!], [p]);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(p.byteLength, 0);
        await this.write(len);
        await this.write(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      }
    } catch (e) {
      answer.catch(() => undefined);  // the half-sent request dies with the child, which the caller closes
      throw e;
    }
    await answer;
  }

  /** Inputs in spec.inputs order, as storage bytes → outputs in spec.outputs order. */
  async forward(parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
    checkParts('input', this.spec.inputs, parts);
    return this.request('forward', parts);
  }

  /**
   * A forward with the carried state on the device: the non-carry inputs in spec.inputs order → the outputs before
   * the carries. Each step's carry outputs become the next step's carry inputs without leaving the device.
   */
  async step(parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
    checkParts('input', freshInputs(this.spec), parts);
    return this.request('step', parts);
  }

  /** Times the last forward's inputs: `warmup` untimed forwards, then `repeats` timed ones (CUDA events). */
  async time(warmup: number, repeats: number): Promise<CudaStepTimes> {
    if (!(Number.isInteger(warmup) && warmup >= 0 && Number.isInteger(repeats) && repeats >= 1)) {
      throw new Error(`time needs integer warm-ups ≥ 0 and repeats ≥ 1, got ${warmup} and ${repeats}`);
    }
    const arg = new Uint8Array(8);
    new DataView(arg.buffer).setUint32(0, warmup, true);
    new DataView(arg.buffer).setUint32(4, repeats, true);
    const [bytes] = await this.request('time', [arg]);
    const ms = Array.from(new Float64Array(bytes!.slice().buffer));
    return { stepMs: ms.slice(0, -1), forwardMs: ms.at(-1)! };
  }

  /** Asks the child to quit; kills it if it has not within 5 s. */
  close(): void {
    if (this.dead) return;
    this.dead = new Error('cuda runner is closed');
    try {
      this.child.stdin.end(frame(RUNNER_OPS.quit, []));
    } catch {
      // the pipe is gone already
    }
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    t.unref();
    this.child.on('exit', () => clearTimeout(t));
    this.child.unref();
  }

  private request(op: RunnerOp, parts: readonly Uint8Array[]): Promise<Uint8Array[]> {
    if (this.dead) return Promise.reject(this.dead);
    const answer = this.expect(op);
    this.child.stdin.write(frame(RUNNER_OPS[op], parts));
    return answer;
  }

  private write(b: Buffer): Promise<void> {
    if (this.child.stdin.write(b) || this.dead) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.child.stdin.off('drain', done);
        this.child.off('exit', done);
        resolve();
      };
      this.child.stdin.once('drain', done);
      this.child.once('exit', done);
    });
  }

  private expect(op: RunnerOp | 'hello'): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        this.fail(new Error(`cuda runner gave no answer to '${op}' within ${this.timeoutMs / 1000} s: killed it`));
      }, this.timeoutMs);
      this.pending.push({ op, resolve, reject, timer });
    });
  }

  // chunks are joined only once the next response can be complete: a large output arrives in many 64 KiB reads
  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    while (this.buffered >= this.need) {
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const parsed = parseResponse(all);
      if ('need' in parsed) {
        [this.chunks, this.need] = [[all], parsed.need];
        return;
      }
      const rest = all.subarray(parsed.used);
      [this.chunks, this.buffered, this.need] = [rest.length ? [rest] : [], rest.length, 8];
      const p = this.pending.shift();
      if (!p) return this.fail(new Error('cuda runner answered a request that was never sent'));
      clearTimeout(p.timer);
      if (parsed.ok) p.resolve(parsed.parts);
      else p.reject(new Error(`cuda runner (${p.op}): ${Buffer.from(parsed.parts[0] ?? []).toString('utf8')}`));
    }
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }
}

/** The inputs a `step` request sends: every input but the carries (their values stay on the device). */
export function freshInputs(spec: CudaRunnerSpec): CudaRunnerTensor[] {
  return spec.inputs.filter((t) => !t.name.startsWith(CARRY_PREFIX));
}

function checkParts(what: string, want: readonly CudaRunnerTensor[], parts: readonly Uint8Array[]): void {
  if (parts.length !== want.length) throw new Error(`runner takes ${want.length} ${what}s, got ${parts.length}`);
  parts.forEach((p, i) => {
    const w = want[i]!;
    if (p.byteLength !== w.bytes) {
      const t = `${w.dtype}[${w.shape.join(',')}]`;
      throw new Error(`${what} '${w.name}' ${t}: expected ${w.bytes} bytes, got ${p.byteLength}`);
    }
  });
}

function frame(op: number, parts: readonly Uint8Array[]): Buffer {
  const head = Buffer.alloc(8 + 4 * parts.length);
  head.writeUInt32LE(op, 0);
  head.writeUInt32LE(parts.length, 4);
  const chunks: Buffer[] = [head.subarray(0, 8)];
  parts.forEach((p, i) => {
    head.writeUInt32LE(p.byteLength, 8 + 4 * i);
    chunks.push(head.subarray(8 + 4 * i, 12 + 4 * i), Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  });
  return Buffer.concat(chunks);
}

/** One whole response at the start of `b`, or how many bytes it needs at least while it is still arriving. */
function parseResponse(b: Buffer): { ok: boolean; parts: Uint8Array[]; used: number } | { need: number } {
  if (b.length < 8) return { need: 8 };
  const count = b.readUInt32LE(4);
  const parts: Uint8Array[] = [];
  let at = 8;
  for (let i = 0; i < count; i++) {
    if (b.length < at + 4) return { need: at + 4 };
    const len = b.readUInt32LE(at);
    if (b.length < at + 4 + len) return { need: at + 4 + len };
    parts.push(new Uint8Array(b.subarray(at + 4, at + 4 + len)));
    at += 4 + len;
  }
  return { ok: b.readUInt32LE(0) === 0, parts, used: at };
}
