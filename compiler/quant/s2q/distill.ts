import { tensorType } from '../../../ir/types.ts';
import { tensor, type Tensor } from '../../../runtime/tensor.ts';
import { mulberry32 } from '../../data/prng.ts';
import type { Weights } from '../../weights/weights.ts';
import { adamParam, adamStep, cosineLr, type AdamParam } from './adamw.ts';
import type { BlockGraph, LinearGroup } from './block-graph.ts';
import { clipPart, groupPart, statsGraph, trainGraph } from './distill-graph.ts';
import type { ExecFactory, GraphExec } from './exec.ts';
import { initFactor, invert, matmulSq, transpose } from './kron.ts';

/*
 * Sparse Token Distillation of one block (S²Q-VDiT §3.3 and App. A, PAPER.md §4–5): AdamW on the λ-weighted
 * per-token MSE between the FP block and the fake-quantized block, FP inputs from the calibration store. Learned,
 * with FlatQuant's initialisation and learning rates: the balancing scale s (SmoothQuant α = 0.3), the Kronecker
 * factors P1, P2 (Hadamard), the per-channel weight clip β± and the per-layer activation clip γ (σ(4) ≈ 0.982).
 * The loss is normalised as L / L.detach() (gradients ∇L / L). Each step the CPU inverts the small factors and
 * maps the gradients of P1ᵀ, P1⁻¹, P2, P2⁻ᵀ (graph inputs l, lw, r, rw) back onto P1 and P2:
 *   ∂L/∂P1 = G_lᵀ − P1⁻ᵀ·G_lw·P1⁻ᵀ          ∂L/∂P2 = G_r − P2⁻ᵀ·G_rwᵀ·P2⁻ᵀ
 * Afterwards one FP pass over the same records gives each group's transformed Hessian x̃ᵀx̃ for GPTQ.
 */

export interface DistillRecord {
  /** calibration store record id */
  readonly id: number;
  /** flow time and class label of its forward (the null class for the uncond branch) */
  readonly t: number;
  readonly y: number;
}

export interface BlockSource {
  readonly records: readonly DistillRecord[];
  /** the block's FP input [tokens, channels] for a record */
  input(id: number): Float32Array;
  /** λ per token for a record; absent: plain MSE (no STD) */
  lambda?(id: number): Float32Array;
}

export interface DistillOptions {
  /** passes over the records (default 15) */
  readonly epochs?: number;
  /** learning rate of s, P1, P2 (default 5e-3) and of the clips (default 10×: 5e-2) */
  readonly lr?: number;
  readonly clipLr?: number;
  readonly seed?: number;
  readonly onStep?: (step: number, total: number, loss: number) => void;
}

export const DEFAULT_EPOCHS = 15;
const CLIP_INIT = 4;

export interface GroupResult {
  readonly group: LinearGroup;
  /** kron groups: s [K], P1 [d1, d1], P2 [d2, d2] */
  readonly s?: Float64Array;
  readonly p1?: Float64Array;
  readonly p2?: Float64Array;
  /** activation clip ratio σ(γ) (kron groups) */
  readonly clip?: number;
  /** Σ x̃ᵀx̃ over the records, [K, K] */
  readonly hessian: Float64Array;
  /** records folded into the Hessian (the topped-up last batch counts in full) */
  readonly rows: number;
}

export interface BlockResult {
  readonly block: number;
  readonly groups: readonly GroupResult[];
  /** per weight: σ(β⁺), σ(β⁻) per output channel */
  readonly weightClips: ReadonlyMap<string, { readonly hi: Float64Array; readonly lo: Float64Array }>;
  /** mean loss of the first and the last epoch (0 epochs: both undefined) */
  readonly firstLoss?: number;
  readonly lastLoss?: number;
  readonly steps: number;
  readonly ms: number;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

interface GroupState {
  readonly group: LinearGroup;
  readonly s: AdamParam;
  readonly p1: AdamParam;
  readonly p2: AdamParam;
  readonly gamma: AdamParam;
}

export async function distillBlock(
  bg: BlockGraph, weights: Weights, src: BlockSource, exec: ExecFactory, opts: DistillOptions = {},
): Promise<BlockResult> {
  const t0 = performance.now();
  const h = bg.graph.inputs[0]!;
  const [batch, tokens, channels] = h.type.shape as [number, number, number];
  if (src.records.length === 0) throw new Error(`s2q: block ${bg.block} has no calibration records`);
  const batches = batchesOf(src.records, batch);
  const stats = statsGraph(bg);
  const statsExec = await exec(stats.graph);
  let groups: GroupResult[];
  let trained: { states: GroupState[]; clips: Map<string, { bp: AdamParam; bm: AdamParam }>; first?: number; last?: number; steps: number };
  try {
    // identity transforms first: max|x| per channel initialises s
    const first = await runStats(bg, statsExec, batches, src, tokens, channels, identityTransforms(bg), false);
    const states = bg.groups.filter((g) => g.kind === 'kron').map((g) => initGroup(g, weights, first.absMax.get(g)!, opts));
    const clips = new Map(bg.groups.flatMap((g) => g.linears.map((l) => {
      const name = l.src[1]!.attrs['name'] as string;
      const n = l.src[1]!.type.shape[0]!;
      const lr = opts.clipLr ?? 10 * (opts.lr ?? 5e-3);
      return [name, { bp: adamParam(clipPart(name, 'bp'), new Float64Array(n).fill(CLIP_INIT), lr),
        bm: adamParam(clipPart(name, 'bm'), new Float64Array(n).fill(CLIP_INIT), lr) }] as const;
    })));
    trained = { states, clips, ...(await train(bg, exec, batches, src, tokens, channels, states, clips, opts)) };
    const finalT = new Map(states.map((s) => [s.group, { s: s.s.value, p1: s.p1.value, p2: s.p2.value }]));
    const last = await runStats(bg, statsExec, batches, src, tokens, channels, finalT, true);
    groups = bg.groups.map((g) => {
      const st = states.find((s) => s.group === g);
      const base = { group: g, hessian: last.hessian.get(g)!, rows: last.rows };
      return st ? { ...base, s: st.s.value, p1: st.p1.value, p2: st.p2.value, clip: sigmoid(st.gamma.value[0]!) } : base;
    });
  } finally {
    statsExec.dispose();
  }
  const weightClips = new Map([...trained.clips].map(([w, c]) => [w, {
    hi: c.bp.value.map(sigmoid), lo: c.bm.value.map(sigmoid),
  }]));
  return {
    block: bg.block, groups, weightClips, steps: trained.steps, ms: performance.now() - t0,
    ...(trained.first !== undefined ? { firstLoss: trained.first, lastLoss: trained.last } : {}),
  };
}

/** s = 1, P1 = P2 = I for every token group: x̃ = x. */
export function identityTransforms(bg: BlockGraph): Map<LinearGroup, Transform> {
  return new Map(bg.groups.filter((g) => g.kind === 'kron').map((g) => [g, {
    s: new Float64Array(g.k).fill(1), p1: eye(g.dims[0]), p2: eye(g.dims[1]),
  }]));
}

function eye(d: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  return m;
}

/** Records in steps of `batch`: every record once per epoch, the last step topped up from the front. */
export function batchesOf(records: readonly DistillRecord[], batch: number): DistillRecord[][] {
  const out: DistillRecord[][] = [];
  for (let i = 0; i < records.length; i += batch) {
    out.push(Array.from({ length: batch }, (_, j) => records[(i + j) % records.length]!));
  }
  return out;
}

function batchInputs(
  recs: readonly DistillRecord[], src: BlockSource, tokens: number, channels: number, withLambda: boolean,
): Record<string, Tensor> {
  const b = recs.length;
  const h = new Float32Array(b * tokens * channels);
  const lambda = new Float32Array(b * tokens).fill(1);
  recs.forEach((r, i) => {
    const x = src.input(r.id);
    if (x.length !== tokens * channels) throw new Error(`s2q: record ${r.id} holds ${x.length} values, expected ${tokens}×${channels}`);
    h.set(x, i * tokens * channels);
    if (withLambda && src.lambda) lambda.set(src.lambda(r.id), i * tokens);
  });
  return {
    h: tensor(tensorType('f32', [b, tokens, channels]), h),
    t: tensor(tensorType('f32', [b]), Float32Array.from(recs, (r) => r.t)),
    y: tensor(tensorType('i32', [b]), Int32Array.from(recs, (r) => r.y)),
    ...(withLambda ? { lambda: tensor(tensorType('f32', [b, tokens]), lambda) } : {}),
  };
}

const f32 = (shape: readonly number[], v: ArrayLike<number>): Tensor => tensor(tensorType('f32', shape), Float32Array.from(v));

export interface Transform { readonly s: Float64Array; readonly p1: Float64Array; readonly p2: Float64Array }

/** max|x| and (with `hessian`) Σ x̃ᵀx̃ of every group's FP input over the records, x̃ under `transforms`. */
export async function runStats(
  bg: BlockGraph, statsExec: GraphExec, batches: readonly DistillRecord[][], src: BlockSource, tokens: number,
  channels: number, transforms: ReadonlyMap<LinearGroup, Transform>, hessian: boolean,
): Promise<{ absMax: Map<LinearGroup, Float32Array>; hessian: Map<LinearGroup, Float64Array>; rows: number }> {
  const absMax = new Map(bg.groups.map((g) => [g, new Float32Array(g.k)]));
  const hs = new Map(bg.groups.map((g) => [g, new Float64Array(hessian ? g.k * g.k : 0)]));
  const extra: Record<string, Tensor> = {};
  for (const [g, t] of transforms) {
    const [d1, d2] = g.dims;
    extra[groupPart(g, 's')] = f32([g.k], t.s);
    extra[groupPart(g, 'l')] = f32([d1, d1], transpose(t.p1, d1));
    extra[groupPart(g, 'r')] = f32([d2, d2], t.p2);
  }
  // the last batch is topped up with records from the front, which then count twice in x̃ᵀx̃: a slight reweighting
  // GPTQ does not mind (dropping that batch instead would leave a store of fewer records than one batch with none)
  let rows = 0;
  for (const recs of batches) {
    const outs = await statsExec.run({ ...batchInputs(recs, src, tokens, channels, false), ...extra });
    bg.groups.forEach((g, i) => {
      const m = outs[2 * i]!.data;
      const am = absMax.get(g)!;
      for (let j = 0; j < g.k; j++) am[j] = Math.max(am[j]!, m[j]!);
      if (!hessian) return;
      const hm = outs[2 * i + 1]!.data;
      const acc = hs.get(g)!;
      for (let j = 0; j < acc.length; j++) acc[j]! += hm[j]!;
    });
    rows += recs.length;
  }
  return { absMax, hessian: hs, rows };
}

function initGroup(g: LinearGroup, weights: Weights, xMax: Float32Array, opts: DistillOptions): GroupState {
  const wMax = new Float64Array(g.k);
  for (const name of g.weights) {
    const w = weights.get(name);
    if (!w) throw new Error(`s2q: no FP weight '${name}'`);
    const d = w.data as Float32Array;
    for (let i = 0; i < d.length; i++) wMax[i % g.k] = Math.max(wMax[i % g.k]!, Math.abs(d[i]!));
  }
  // s_j = max|W_:,j|^0.7 / max|X_j|^0.3 (x̃ = x·s, W̃ = W/s); dead channels keep 1
  const s = Float64Array.from(wMax, (w, j) => (w > 0 && xMax[j]! > 0 ? w ** 0.7 / xMax[j]! ** 0.3 : 1));
  const lr = opts.lr ?? 5e-3;
  const clipLr = opts.clipLr ?? 10 * lr;
  return {
    group: g,
    s: adamParam(groupPart(g, 's'), s, lr),
    p1: adamParam(`${g.first}.s2q.p1`, initFactor(g.dims[0]), lr),
    p2: adamParam(`${g.first}.s2q.p2`, initFactor(g.dims[1]), lr),
    gamma: adamParam(groupPart(g, 'gamma'), new Float64Array([CLIP_INIT]), clipLr),
  };
}

async function train(
  bg: BlockGraph, exec: ExecFactory, batches: readonly DistillRecord[][], src: BlockSource, tokens: number,
  channels: number, states: readonly GroupState[], clips: ReadonlyMap<string, { bp: AdamParam; bm: AdamParam }>,
  opts: DistillOptions,
): Promise<{ first?: number; last?: number; steps: number }> {
  const epochs = opts.epochs ?? DEFAULT_EPOCHS;
  if (!(Number.isInteger(epochs) && epochs >= 0)) throw new Error(`s2q: epochs must be a non-negative integer, got ${epochs}`);
  if (epochs === 0) return { steps: 0 };
  const { graph, learned } = trainGraph(bg);
  const run = await exec(graph);
  const total = epochs * batches.length;
  const rng = mulberry32((opts.seed ?? 0) + bg.block);
  let [first, last, step] = [0, 0, 0];
  try {
    for (let e = 0; e < epochs; e++) {
      const order = batches.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let sum = 0;
      for (const bi of order) {
        const values = learnedValues(states, clips);
        const inputs = { ...batchInputs(batches[bi]!, src, tokens, channels, true), ...Object.fromEntries(
          learned.map((l) => [l.name, f32(l.shape, values.get(l.name)!)])) };
        const outs = await run.run(inputs);
        const loss = outs[0]!.data[0]!;
        if (!Number.isFinite(loss)) throw new Error(`s2q: block ${bg.block} loss is ${loss} at step ${step}`);
        const grads = new Map(learned.map((l, i) => [l.name, outs[i + 1]!.data as Float32Array]));
        step++;
        update(states, clips, grads, values, step, cosineLr(1, step - 1, total), loss);
        sum += loss;
        opts.onStep?.(step, total, loss);
      }
      const mean = sum / order.length;
      if (e === 0) first = mean;
      last = mean;
    }
  } finally {
    run.dispose();
  }
  return { first, last, steps: step };
}

/** The train graph's learned inputs from the optimiser state (P1ᵀ, P1⁻¹, P2, P2⁻ᵀ from P1, P2). */
function learnedValues(
  states: readonly GroupState[], clips: ReadonlyMap<string, { bp: AdamParam; bm: AdamParam }>,
): Map<string, Float64Array> {
  const v = new Map<string, Float64Array>();
  for (const st of states) {
    const g = st.group;
    const [d1, d2] = g.dims;
    v.set(groupPart(g, 's'), st.s.value);
    v.set(groupPart(g, 'l'), transpose(st.p1.value, d1));
    v.set(groupPart(g, 'lw'), invert(st.p1.value, d1));
    v.set(groupPart(g, 'r'), st.p2.value);
    v.set(groupPart(g, 'rw'), transpose(invert(st.p2.value, d2), d2));
    v.set(groupPart(g, 'gamma'), st.gamma.value);
  }
  for (const [w, c] of clips) {
    v.set(clipPart(w, 'bp'), c.bp.value);
    v.set(clipPart(w, 'bm'), c.bm.value);
  }
  return v;
}

/** ∂L/∂P1 from the gradients of its graph inputs l = P1ᵀ and lw = P1⁻¹. */
export function factorGradients(
  d: number, gl: ArrayLike<number>, glw: ArrayLike<number>, lw: ArrayLike<number>,
): Float64Array {
  // ∂L/∂P1 = G_lᵀ − P1⁻ᵀ·G_lw·P1⁻ᵀ with lw = P1⁻¹
  const lwT = transpose(lw, d);
  const corr = matmulSq(matmulSq(lwT, glw, d), lwT, d);
  const glT = transpose(gl, d);
  return glT.map((v, i) => v - corr[i]!);
}

function update(
  states: readonly GroupState[], clips: ReadonlyMap<string, { bp: AdamParam; bm: AdamParam }>,
  grads: ReadonlyMap<string, Float32Array>, values: ReadonlyMap<string, Float64Array>, step: number, lrScale: number,
  loss: number,
): void {
  const norm = loss > 0 ? 1 / loss : 1;
  const scaled = (name: string): Float64Array => Float64Array.from(grads.get(name)!, (g) => g * norm);
  for (const st of states) {
    const g = st.group;
    const [d1, d2] = g.dims;
    const gp1 = factorGradients(d1, scaled(groupPart(g, 'l')), scaled(groupPart(g, 'lw')), values.get(groupPart(g, 'lw'))!);
    const gp2 = p2Gradient(d2, scaled(groupPart(g, 'r')), scaled(groupPart(g, 'rw')), values.get(groupPart(g, 'rw'))!);
    adamStep(st.s, scaled(groupPart(g, 's')), step, lrScale);
    adamStep(st.p1, gp1, step, lrScale);
    adamStep(st.p2, gp2, step, lrScale);
    adamStep(st.gamma, scaled(groupPart(g, 'gamma')), step, lrScale);
    // a zero balancing scale would divide W by 0
    for (let j = 0; j < st.s.value.length; j++) {
      const v = st.s.value[j]!;
      if (Math.abs(v) < 1e-6) st.s.value[j] = v < 0 ? -1e-6 : 1e-6;
    }
  }
  for (const c of clips.values()) {
    adamStep(c.bp, scaled(c.bp.name), step, lrScale);
    adamStep(c.bm, scaled(c.bm.name), step, lrScale);
  }
}

/** ∂L/∂P2 = G_r − P2⁻ᵀ·G_rwᵀ·P2⁻ᵀ with rw = P2⁻ᵀ. */
export function p2Gradient(d: number, gr: ArrayLike<number>, grw: ArrayLike<number>, rw: ArrayLike<number>): Float64Array {
  const corr = matmulSq(matmulSq(rw, transpose(grw, d), d), rw, d);
  return Float64Array.from({ length: d * d }, (_, i) => gr[i]! - corr[i]!);
}
