import type { DType } from './dtype.ts';
import { IRError } from './errors.ts';
import { graph, type Graph } from './graph.ts';
import { node, type Node } from './node.ts';
import type { Attrs, Op } from './ops.ts';
import { formatType, tensorType, type Shape } from './types.ts';

export type ParamInit = 'normal' | 'zeros' | 'ones';

/** How a param is initialised when no weight source provides it (seeded init in the runtimes). */
export interface ParamOptions {
  readonly init?: ParamInit;
  /** standard deviation of the normal init; the builder default is used when absent */
  readonly std?: number;
}

export interface LinearOptions extends ParamOptions {
  readonly bias?: boolean;
}

export interface NormOptions {
  /** learn a per-feature weight (and for layernorm a bias); default false */
  readonly affine?: boolean;
  readonly eps?: number;
}

export interface RopeOptions {
  readonly grid: readonly [number, number, number];
  readonly dims: readonly [number, number, number];
  readonly theta?: number;
  readonly offset?: number;
}

export interface TimestepOptions {
  readonly dim: number;
  readonly maxPeriod?: number;
  readonly flip?: boolean;
  readonly shift?: number;
  readonly scale?: number;
}

export interface BuilderOptions {
  /** float dtype of params and float inputs; default f32 */
  readonly dtype?: DType;
  /** std of normal-initialised params when the call gives none; default 0.02 */
  readonly std?: number;
}

/** State shared by a builder and all its scopes, so names stay unique across the whole graph. */
interface BuilderState {
  readonly name: string;
  readonly dtype: DType;
  readonly std: number;
  readonly inputs: Node[];
  readonly params: Map<string, Node>;
}

/**
 * Small helpers over `node()` for frontends and tests. Param names follow PyTorch (`{prefix}.weight`,
 * `{prefix}.bias`, weight [out, in]) so that a state dict loads by name; `scope()` prefixes names.
 */
export class GraphBuilder {
  private constructor(
    private readonly state: BuilderState,
    readonly prefix: string,
  ) {}

  static create(name: string, opts: BuilderOptions = {}): GraphBuilder {
    const state = { name, dtype: opts.dtype ?? 'f32', std: opts.std ?? 0.02, inputs: [], params: new Map() };
    return new GraphBuilder(state, '');
  }

  get dtype(): DType {
    return this.state.dtype;
  }

  /** A builder whose param names are prefixed with `prefix.`; it shares inputs and params with this one. */
  scope(prefix: string): GraphBuilder {
    return new GraphBuilder(this.state, this.qualify(prefix));
  }

  /** The full name of a local name in this scope. */
  qualify(local: string): string {
    if (!local) throw new IRError('GraphBuilder: empty name');
    return this.prefix ? `${this.prefix}.${local}` : local;
  }

  input(name: string, shape: Shape, dtype: DType = this.state.dtype): Node {
    if (this.state.inputs.some((i) => i.attrs['name'] === name)) throw new IRError(`input '${name}' declared twice`);
    checkShape(name, shape);
    const n = node('input', [], { name }, tensorType(dtype, shape));
    this.state.inputs.push(n);
    return n;
  }

  param(local: string, shape: Shape, opts: ParamOptions = {}): Node {
    const name = this.qualify(local);
    checkShape(name, shape);
    const init = opts.init ?? 'normal';
    const attrs: Attrs = init === 'normal' ? { name, init, std: opts.std ?? this.state.std } : { name, init };
    const n = node('param', [], attrs, tensorType(this.state.dtype, shape));
    const prev = this.state.params.get(name);
    if (prev && prev !== n) {
      throw new IRError(`param '${name}' redeclared as ${formatType(n.type)} (was ${formatType(prev.type)})`);
    }
    this.state.params.set(name, n);
    return n;
  }

  /** Params declared so far, in declaration order. */
  params(): Node[] {
    return [...this.state.params.values()];
  }

  op(op: Op, src: readonly Node[], attrs: Attrs = {}): Node {
    return node(op, src, attrs);
  }

  /** y = x wᵀ + b with `${prefix}.weight` [outDim, in] and `${prefix}.bias` [outDim] (bias zero-initialised). */
  linear(x: Node, prefix: string, outDim: number, opts: LinearOptions = {}): Node {
    const inDim = lastDim(x);
    const s = this.scope(prefix);
    const w = s.param('weight', [outDim, inDim], opts);
    if (opts.bias === false) return node('linear', [x, w]);
    return node('linear', [x, w, s.param('bias', [outDim], { init: 'zeros' })]);
  }

  layerNorm(x: Node, prefix?: string, opts: NormOptions = {}): Node {
    const attrs = { eps: opts.eps ?? 1e-6 };
    if (!opts.affine) return node('layernorm', [x], attrs);
    const s = this.scope(requireName(prefix, 'layerNorm'));
    const d = lastDim(x);
    const w = s.param('weight', [d], { init: 'ones' });
    return node('layernorm', [x, w, s.param('bias', [d], { init: 'zeros' })], attrs);
  }

  rmsNorm(x: Node, prefix?: string, opts: NormOptions = {}): Node {
    const attrs = { eps: opts.eps ?? 1e-6 };
    if (!opts.affine) return node('rmsnorm', [x], attrs);
    const w = this.scope(requireName(prefix, 'rmsNorm')).param('weight', [lastDim(x)], { init: 'ones' });
    return node('rmsnorm', [x, w], attrs);
  }

  /** softmax(q kᵀ·scale + mask) v over [B, H, N, D]; scale defaults to 1/√D. */
  attention(q: Node, k: Node, v: Node, opts: { scale?: number; mask?: Node } = {}): Node {
    const scale = opts.scale ?? 1 / Math.sqrt(lastDim(q));
    return node('attention', opts.mask ? [q, k, v, opts.mask] : [q, k, v], { scale });
  }

  /** [B, N, H·Dh] → [B, H, N, Dh] */
  splitHeads(x: Node, heads: number): Node {
    const [b, n, d] = rank3(x, 'splitHeads');
    if (d % heads) throw new IRError(`splitHeads: width ${d} is not divisible by ${heads} heads`);
    return this.permute(this.reshape(x, [b, n, heads, d / heads]), [0, 2, 1, 3]);
  }

  /** [B, H, N, Dh] → [B, N, H·Dh] */
  mergeHeads(x: Node): Node {
    const s = x.type.shape;
    if (s.length !== 4) throw new IRError(`mergeHeads: expects [B,H,N,Dh], got ${formatType(x.type)}`);
    const [b, h, n, d] = s as [number, number, number, number];
    return this.reshape(this.permute(x, [0, 2, 1, 3]), [b, n, h * d]);
  }

  reshape(x: Node, shape: Shape): Node {
    return node('reshape', [x], { shape: [...shape] });
  }

  permute(x: Node, perm: readonly number[]): Node {
    return node('permute', [x], { perm: [...perm] });
  }

  transpose(x: Node, dim0: number, dim1: number): Node {
    return node('transpose', [x], { dim0, dim1 });
  }

  concat(xs: readonly Node[], axis: number): Node {
    return node('concat', xs, { axis });
  }

  slice(x: Node, axis: number, start: number, end: number, step = 1): Node {
    return node('slice', [x], { axis, start, end, step });
  }

  /** n equal slices along an axis (torch.chunk with an exact split). */
  chunk(x: Node, n: number, axis: number): Node[] {
    const size = x.type.shape.at(axis);
    if (size === undefined || size % n) {
      throw new IRError(`chunk: axis ${axis} of ${formatType(x.type)} is not divisible by ${n}`);
    }
    const a = axis < 0 ? axis + x.type.shape.length : axis;
    const w = size / n;
    return Array.from({ length: n }, (_, i) => this.slice(x, a, i * w, (i + 1) * w));
  }

  gather(x: Node, idx: Node, axis = 0): Node {
    return node('gather', [x, idx], { axis });
  }

  add(a: Node, b: Node): Node {
    return node('add', [a, b]);
  }

  mul(a: Node, b: Node): Node {
    return node('mul', [a, b]);
  }

  silu(x: Node): Node {
    return node('silu', [x]);
  }

  gelu(x: Node, approx: 'none' | 'tanh' = 'tanh'): Node {
    return node('gelu', [x], { approx });
  }

  modulate(x: Node, shift: Node, scale: Node): Node {
    return node('modulate', [x, shift, scale]);
  }

  gate(x: Node, g: Node): Node {
    return node('gate', [x, g]);
  }

  rope3d(x: Node, o: RopeOptions): Node {
    const attrs = { grid: [...o.grid], dims: [...o.dims], theta: o.theta ?? 10000, offset: o.offset ?? 0 };
    return node('rope3d', [x], attrs);
  }

  timestepEmbedding(t: Node, o: TimestepOptions): Node {
    const attrs = {
      dim: o.dim, max_period: o.maxPeriod ?? 10000, flip: o.flip ?? false, shift: o.shift ?? 0, scale: o.scale ?? 1,
    };
    return node('timestep_embedding', [t], attrs);
  }

  /** The graph over all declared inputs (in declaration order) and the given outputs. */
  build(outputs: Node | readonly Node[]): Graph {
    const outs = Array.isArray(outputs) ? (outputs as readonly Node[]) : [outputs as Node];
    if (outs.length === 0) throw new IRError(`graph '${this.state.name}' needs at least one output`);
    return graph(this.state.name, this.state.inputs, outs);
  }
}

function lastDim(x: Node): number {
  const d = x.type.shape.at(-1);
  if (d === undefined) throw new IRError(`expected a tensor of rank ≥ 1, got ${formatType(x.type)}`);
  return d;
}

function rank3(x: Node, what: string): [number, number, number] {
  if (x.type.shape.length !== 3) throw new IRError(`${what}: expects [B, N, D], got ${formatType(x.type)}`);
  return x.type.shape as unknown as [number, number, number];
}

function requireName(prefix: string | undefined, what: string): string {
  if (!prefix) throw new IRError(`${what}: an affine norm needs a param prefix`);
  return prefix;
}

function checkShape(name: string, shape: Shape): void {
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new IRError(`'${name}': shape [${shape.join(',')}] must be positive integers`);
  }
}
