// The CUDA twin of bench/attention-sparse.ts: times, on a preset's self-attention shape, the f32 flash kernel
// (variant f32), the f16 tensor-core kernel, and the block-sparse tensor-core kernel at keep 0.5 and 0.25, each as
// one launch of a CUDA runner (median CUDA-event time after warm-up), and checks tensor-core against f32 outputs.
//   npx tsx bench/attention-sparse-cuda.ts [preset=cogvideox-2b] [--batch 1] [--tile 64] [--repeats 5] [-o out.json]
// --variants mma-w4,mma-w8-pipe,... instead times each named tensor-core variant (attention-mma.ts's
// parseMmaVariant) on the dense shape and on sparse keep 0.5, plus the f32 kernels once, in one process; every
// variant's outputs are checked against the f32 kernels' (dense and sparse).
// --online times online selection as `--prune …,select=online` builds it, one runner each beside dense: the key tiles
// pooled (poolKeyTiles), tile_select per query tile, and the per-query-tile sparse kernel, at keep 0.5 with query
// tiles of 64 and 128 (qtile: 8-warp blocks) and keep 0.25 with 128; the last is checked against its f32 twin.
// --residual times `--prune schedule=…,select=online,cache=frozen` (passes/prune-residual.ts) as its pruned step
// (t in a pruned range: sparse lists, the refresh lists empty, the carried residual added), its refresh step (all
// tiles besides, the residual refreshed) and a dense step before another (all tiles, no sparse part), at keep 0.25 and
// 0.125 with query tiles of 64 and 128 (the pruned step also with the double buffer forced: variant mma-pipe), beside
// dense; every step also writes the carries' next values, as a model's graph does; the carried residual and lists are
// seeded inputs; the frozen pruned step at keep 0.125, query tiles of 128, is checked against its f32 twin.
// cache=lazy at keep 0.125, query tiles of 64, the same way: its dense step (no sparse part), its first pruned step
// (which selects the lists) and a pruned step.
// Then each schedule of bench/step-schedules.ts whose keep and query tile were timed, over its 30 steps: the sum of
// its steps' kinds (`schedules` in the JSON) against 30 dense steps.
// --emulate test/targets/cuda/emulate/cuda-host.h runs it on the CPU emulation instead (a smoke test: small presets).
// Inputs are seeded uniform values in [-1, 1), never zeros; kept tiles are spread evenly.
import { renameSync, writeFileSync } from 'node:fs';
import { f16AttentionTolerance } from '../compiler/compare/tolerance.ts';
import { mulberry32 } from '../compiler/data/prng.ts';
import { attentionArgs } from './attention-args.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { graph } from '../ir/graph.ts';
import { poolKeyTiles } from '../passes/prune-online.ts';
import { parsePipeline, runPipeline } from '../passes/pipeline.ts';
import { residualAttention, residualPlan, type ResidualMode } from '../passes/prune-residual.ts';
import { builtinPasses } from '../passes/registry.ts';
import { node, type Node } from '../ir/node.ts';
import { tensorType } from '../ir/types.ts';
import { CudaRunner } from '../runtime/cuda-runner.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import { kindCounts, SCHEDULE_STEPS, STEP_SCHEDULES, type ScheduleSum, type StepKind } from './step-schedules.ts';

const { preset, h, n, hd, opt } = attentionArgs(process.argv.slice(2));
const b = Number(opt('--batch', '1'));
const [tile, repeats, out, emulate] = [Number(opt('--tile', '64')), Number(opt('--repeats', '5')), opt('-o', ''),
  opt('--emulate', '')];
const variants = opt('--variants', '').split(',').filter((x) => x);
const online = process.argv.includes('--online');
const residual = process.argv.includes('--residual');

const r = mulberry32(7);
const rand = (shape: number[]): Tensor => tensor(tensorType('f32', shape),
  Float32Array.from({ length: shape.reduce((a, c) => a * c, 1) }, () => 2 * r.next() - 1));
const tiles = Math.ceil(n / tile);
const evenly = (keep: number): Tensor => {
  const kept = Math.ceil(keep * tiles);
  return tensor(tensorType('i32', [kept]), Int32Array.from({ length: kept }, (_, i) => Math.floor((i * tiles) / kept)));
};
const inputs: Record<string, Tensor> = {
  q: rand([b, h, n, hd]), k: rand([b, h, n, hd]), v: rand([b, h, n, hd]), t50: evenly(0.5), t25: evenly(0.25),
  ...(residual ? { 'carry.blocks.0.attn': rand([b, h, n, hd]) } : {}),
};
// the residual rows' timestep: in the dense range (0.9) or the pruned one (0.1) of bounds [0.5]
const timestep = (t: number): Tensor => tensor(tensorType('f32', [b]), new Float32Array(b).fill(t));
const leaf = (name: string): Node => node('input', [], { name }, (inputs[name] ?? timestep(0)).type);
const [q, k, v] = [leaf('q'), leaf('k'), leaf('v')];
const scale = 1 / Math.sqrt(hd);
const dense = node('attention', [q, k, v], { scale });
const sparse = (t: string): Node => node('sparse_attention', [q, k, v, leaf(t)], { scale, tile });
/** The online form the pass emits: sparse_attention over tile_select's lists from pooled keys. */
const onlineSparse = (keep: number, qtile: number): Node => {
  const qt = qtile === tile ? {} : { qtile };
  const select = node('tile_select', [q, poolKeyTiles(k, tile)], { tile, ...qt, keep, keepFirst: 0, scale, keys: n });
  return node('sparse_attention', [q, k, v, select], { scale, tile, ...qt });
};
/**
 * The residual form of block 0 under the schedule [1, 1, keep] (bounds [0.7, 0.3]: a dense step before a dense one,
 * a dense step that refreshes, a pruned step), lazy [1, keep, keep] (a dense step, the first pruned step that
 * selects, a pruned step), and its refresh-lists param; frozen and lazy: the
 * lists carried too (carry.blocks.0.lists, set here to evenly spread tiles), tile_select keeping nothing when pruned.
 */
const residualForm = (keep: number, qtile: number, mode: ResidualMode): [Node[], Map<string, Tensor>] => {
  const qt = qtile === tile ? {} : { qtile };
  const t = node('input', [], { name: 't' }, tensorType('f32', [b]));
  const [plan, bounds] = [residualPlan(mode === 'lazy' ? [1, keep, keep] : [1, 1, keep], mode), [0.7, 0.3]];
  const select = node('tile_select', [q, poolKeyTiles(k, tile), t],
    { tile, ...qt, keeps: [...plan.selectKeeps], bounds, keepFirst: 0, scale, keys: n });
  if (plan.frozen) {
    const [rows, kept] = [b * h * Math.ceil(n / qtile), select.type.shape[3]!];
    const spread = evenly(keep).data;
    // carried as lists + 1 (passes/prune-residual.ts)
    inputs['carry.blocks.0.lists'] = tensor(select.type, Int32Array.from({ length: rows * kept }, (_, i) => spread[i % kept]! + 1));
  }
  const r = residualAttention(0, dense, q, k, v, select, t, plan, tile, bounds, qt);
  // the carries' next values are outputs, as in a model's graph (the tail writes them each step)
  return [[r.out, ...r.carries.map((c) => c.next)], new Map([[r.param.name, r.param.data]])];
};
const NO_WEIGHTS: Weights = { get: () => undefined, names: () => [] };
const build = emulate ? { emulate } : {};

interface Row {
  readonly kernel: string; readonly variant: string; readonly keep: number; readonly ms: number;
  readonly tflops: number;
}

/** One runner over `outputs`: their launches' median times, and the outputs of one forward. */
async function timeRunner(
  outputs: Node[], names: string[], variant?: string, weights = NO_WEIGHTS,
): Promise<[Row[], Tensor[]]> {
  const built = graph('attention', names.map(leaf), outputs);
  // the residual form's elementwise tail fused as a compile fuses it
  const g = residual ? runPipeline(built, parsePipeline('fuse-elementwise', new Map(builtinPasses()))).graph : built;
  const forced = variant ? { variant: { attention: variant, sparse_attention: variant } } : {};
  const runner = await CudaRunner.open(g, weights, { ...build, ...forced });
  try {
    const feed = Object.fromEntries(names.map((x) => [x, inputs[x]!]));
    const outs = await runner.forward(feed);
    const t = await runner.time(feed, 1, repeats);
    const full = 2 * b * h * n * n * 2 * hd;
    const rows = t.timings.map((x) => ({ kernel: x.name, variant: variant ?? 'default', keep: (x.flops ?? 0) / full,
      ms: x.ns / 1e6, tflops: (x.flops ?? 0) / x.ns / 1e3 }));
    console.error(`${runner.device} ${variant ?? 'default'}: ` +
      `${rows.map((x) => `${x.kernel} ${x.ms.toFixed(2)} ms`).join(', ')}`);
    return [rows, outs];
  } finally {
    runner.close();
  }
}

/** One row for several launches of one runner: their times summed, labelled `what (launch ms + …)`. */
function summed(what: string, parts: readonly Row[], qtile: number, keep: number): Row {
  const ms = parts.reduce((a, x) => a + x.ms, 0);
  const flops = parts.reduce((a, x) => a + x.tflops * x.ms * 1e9, 0);
  return { kernel: `${what} (${parts.map((x) => `${x.kernel} ${x.ms.toFixed(2)}`).join(' + ')})`,
    variant: `qtile ${qtile}`, keep, ms, tflops: flops / ms / 1e9 };
}

/** The params a residual form reads (its refresh lists) as Weights. */
const paramWeights = (params: ReadonlyMap<string, Tensor>): Weights =>
  ({ get: (x) => params.get(x), names: () => [...params.keys()] });

/** max |a − b| over two outputs of the same shape. */
function maxDiff(a: Tensor, b: Tensor): number {
  let worst = 0;
  a.data.forEach((x, i) => { worst = Math.max(worst, Math.abs(Number(x) - Number(b.data[i]))); });
  return worst;
}

const tol = f16AttentionTolerance(dense);
const sparseTol = f16AttentionTolerance(sparse('t50'));
let rows: Row[];
let f32Rows: Row[];
let maxAbs = 0;
const checks: string[] = [];
/** --residual: each schedule's 30 steps summed from its step kinds' times, beside 30 dense steps */
const schedules: ScheduleSum[] = [];
if (online) {
  const [denseRows] = await timeRunner([dense], ['q', 'k', 'v']);
  [f32Rows, rows] = [denseRows, [...denseRows]];
  const configs = [[0.5, tile], [0.5, 128], [0.25, 128]] as const;
  let last: [Tensor | undefined, Node] | undefined;
  for (const [keep, qtile] of configs) {
    const out = onlineSparse(keep, qtile);
    const [parts, [o]] = await timeRunner([out], ['q', 'k', 'v']);
    rows.push(summed('online', parts, qtile, keep));
    last = [o, out];
  }
  const [, [ref]] = await timeRunner([last![1]], ['q', 'k', 'v'], 'f32');
  maxAbs = maxDiff(ref!, last![0]!);
  const bound = f16AttentionTolerance(last![1]).atol;
  if (maxAbs > bound) process.exitCode = 1;
  checks.push(`online keep 0.25, qtile 128, tensor-core vs f32: max abs difference ${maxAbs.toExponential(2)} ` +
    `(bound ${bound.toExponential(2)})`);
} else if (residual) {
  const [denseRows] = await timeRunner([dense], ['q', 'k', 'v']);
  [f32Rows, rows] = [denseRows, [...denseRows]];
  let names: string[] = [];
  let last: [Tensor | undefined, Node, Map<string, Tensor>] | undefined;
  const configs = [[0.25, tile, 'frozen'], [0.25, 128, 'frozen'], [0.125, tile, 'frozen'], [0.125, 128, 'frozen'],
    [0.125, tile, 'lazy']] as const;
  for (const [keep, qtile, mode] of configs) {
    const [outs, params] = residualForm(keep, qtile, mode);
    names = ['q', 'k', 'v', 't', 'carry.blocks.0.attn', 'carry.blocks.0.lists'];
    const kinds = new Map<StepKind, number>();
    const steps = mode === 'lazy' ? [['pruned', 0.1], ['select', 0.5], ['dense', 0.9]] as const
      : [['pruned', 0.1], ['refresh', 0.5], ['dense', 0.9]] as const;
    for (const [step, t] of steps) {
      inputs['t'] = timestep(t);
      const [parts, [o]] = await timeRunner(outs, names, undefined, paramWeights(params));
      const row = summed(`${mode}, ${step} step`, parts, qtile, keep);
      rows.push(row);
      kinds.set(step, row.ms);
      if (step === 'pruned' && mode === 'frozen') last = [o, outs[0]!, params];
    }
    // the pruned step once more with double-buffered staging forced (attention-mma.ts defaultPipe: 4-warp blocks only)
    if (mode === 'frozen') {
      inputs['t'] = timestep(0.1);
      const [piped] = await timeRunner(outs, names, 'mma-pipe', paramWeights(params));
      rows.push(summed('frozen, pruned step, mma-pipe', piped, qtile, keep));
    }
    if (mode === 'frozen' && keep === 0.125 && qtile === 128) {
      // checked here, while the carried lists are this form's (the lazy form's lists are per 64 queries)
      inputs['t'] = timestep(0.1);
      const [, [ref]] = await timeRunner([last![1]], names, 'f32', paramWeights(last![2]));
      maxAbs = maxDiff(ref!, last![0]!);
      const bound = f16AttentionTolerance(last![1].src[0]!).atol;
      if (maxAbs > bound) process.exitCode = 1;
      checks.push(`frozen keep 0.125 qtile 128 pruned step, tensor-core vs f32: max abs difference ` +
        `${maxAbs.toExponential(2)} (bound ${bound.toExponential(2)})`);
    }
    const lazy = mode === 'lazy';
    for (const s of STEP_SCHEDULES.filter((x) => x.keep === keep && (x.qtile ?? tile) === qtile && !!x.lazy === lazy)) {
      const counts = kindCounts(s);
      // kinds the schedule has were timed; the others (a frozen form's select, a lazy one's refresh) count 0
      const ms = (Object.keys(counts) as StepKind[])
        .reduce((a, kind) => a + (counts[kind] ? counts[kind] * kinds.get(kind)! : 0), 0);
      schedules.push({ name: s.name, qtile, keep, ...counts, ms, denseMs: SCHEDULE_STEPS * denseRows[0]!.ms });
    }
  }
} else if (variants.length === 0) {
  const [f32, [f32Out]] = await timeRunner([dense], ['q', 'k', 'v'], 'f32');
  const [mmaRows, [mmaOut]] = await timeRunner([dense, sparse('t50'), sparse('t25')], ['q', 'k', 'v', 't50', 't25']);
  [f32Rows, rows, maxAbs] = [f32, [...f32, ...mmaRows], maxDiff(f32Out!, mmaOut!)];
  checks.push(`tensor-core vs f32 dense output: max abs difference ${maxAbs.toExponential(2)} ` +
    `(bound ${tol.atol.toExponential(2)})`);
} else {
  const names = ['q', 'k', 'v', 't50'];
  const [f32, [f32Dense, f32Sparse]] = await timeRunner([dense, sparse('t50')], names, 'f32');
  [f32Rows, rows] = [f32, [...f32]];
  for (const v of variants) {
    const [vRows, [vDense, vSparse]] = await timeRunner([dense, sparse('t50')], names, v);
    rows.push(...vRows);
    const [dd, ds] = [maxDiff(f32Dense!, vDense!), maxDiff(f32Sparse!, vSparse!)];
    maxAbs = Math.max(maxAbs, dd, ds);
    const ok = dd <= tol.atol && ds <= sparseTol.atol;
    if (!ok) process.exitCode = 1;
    checks.push(`${v} vs f32: max abs difference dense ${dd.toExponential(2)} (bound ${tol.atol.toExponential(2)}), ` +
      `sparse 0.5 ${ds.toExponential(2)} (bound ${sparseTol.atol.toExponential(2)})${ok ? '' : ' OVER THE BOUND'}`);
  }
}
const md = [
  `${preset} self-attention [B=${b}, H=${h}, N=${n}, D=${hd}] on CUDA${emulate ? ' (CPU emulation)' : ''}, ` +
    `tile ${tile}; median of ${repeats} after 1 warm-up, CUDA events`,
  '', `| kernel | variant | keep | ms | TFLOP/s | vs ${online || residual ? 'dense mma' : 'f32 dense'} |`, '|---|---|---:|---:|---:|---:|',
  ...rows.map((x) => `| ${x.kernel} | ${x.variant} | ${x.keep.toFixed(2)} | ${x.ms.toFixed(2)} | ` +
    `${x.tflops.toFixed(1)} | ${(f32Rows[0]!.ms / x.ms).toFixed(2)}× |`),
  ...(schedules.length ? ['', '| schedule | query tile | keep | dense / refresh or select / pruned steps | ms over the steps | vs dense |',
    '|---|---:|---:|---|---:|---:|',
    ...schedules.map((x) => `| ${x.name} | ${x.qtile} | ${x.keep} | ${x.dense} / ${x.refresh + (x.select ?? 0)} / ${x.pruned} | ` +
      `${x.ms.toFixed(1)} | ${(x.denseMs / x.ms).toFixed(2)}× |`)] : []),
  '', ...checks,
].join('\n');
console.log(md);
if (out) {
  writeFileSync(`${out}.tmp`, JSON.stringify({ preset, b, h, n, hd, tile, variants, online, residual, rows,
    ...(schedules.length ? { schedules } : {}), maxAbs, bound: tol.atol }, null, 1));
  renameSync(`${out}.tmp`, out);
}
