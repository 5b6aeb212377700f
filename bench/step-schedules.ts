// The per-step schedules of the frozen-list runs (bench/results/prune.md): one schedule entry per sampling step of
// the 30, written as runs, e.g. '4D 3p D 3p' = steps 0–3 dense, 3 pruned, 1 dense, 3 pruned (D: keep 1, p: `keep`).
// One source for the tiny evaluations' `--prune` values (bench/gpu/prune-online.sh takes them from `npx tsx
// bench/step-schedules.ts <name>…`), the report's labels, and the CUDA bench's whole-run sums (its step kinds).
import { residualPlan } from '../passes/prune-residual.ts';

export interface StepSchedule {
  /** the result files' name: bench/results/prune/<name>.json */
  readonly name: string;
  /** runs of dense (D) and pruned (p) steps, noisiest first */
  readonly runs: string;
  /** the pruned steps' keep */
  readonly keep: number;
  /** queries per list (default the tile, 64) */
  readonly qtile?: number;
  /** cache=lazy instead of frozen: the residual and lists taken at the first pruned step (passes/prune-residual.ts) */
  readonly lazy?: boolean;
}

/** The sampler steps the schedules cover (vdit generate / eval). */
export const SCHEDULE_STEPS = 30;

export const STEP_SCHEDULES: readonly StepSchedule[] = [
  { name: 'fz30A-.25', runs: '7D 2p D 2p D 2p D 2p D 2p D 2p D 2p D 2p', keep: 0.25 },
  { name: 'fz30B-.25', runs: '5D 2p D 2p D 2p D 2p D 2p D 2p D 2p D 4p', keep: 0.25 },
  { name: 'fz30B-.375', runs: '5D 2p D 2p D 2p D 2p D 2p D 2p D 2p D 4p', keep: 0.375 },
  { name: 'fz30E-.25', runs: '4D 2p D 2p D 2p D 2p D 2p D 2p D 2p D 2p D 2p', keep: 0.25 },
  { name: 'fz30F-.25', runs: '7D 3p D 3p D 3p D 3p D 3p D 3p', keep: 0.25 },
  { name: 'fz30C-.25', runs: '4D 3p D 3p D 3p D 3p D 3p D 6p', keep: 0.25 },
  { name: 'fz30C-.25-q128', runs: '4D 3p D 3p D 3p D 3p D 3p D 6p', keep: 0.25, qtile: 128 },
  { name: 'fz30H-.25', runs: '3D 4p D 4p D 4p D 4p D 7p', keep: 0.25 },
  { name: 'fz30G-.25', runs: '4D 5p D 5p D 5p D 8p', keep: 0.25 },
  { name: 'fz30w4r3g', runs: '4D 3p D 4p D 5p D 11p', keep: 0.25 },
  { name: 'fz30w5r2', runs: '5D 7p D 7p D 9p', keep: 0.25 },
  { name: 'fz30w5r2b', runs: '5D 5p D 7p D 11p', keep: 0.25 },
  { name: 'fz30w6r1', runs: '6D 8p D 15p', keep: 0.25 },
  { name: 'fz30w6r1b', runs: '6D 6p D 17p', keep: 0.25 },
  { name: 'fz30Ce', runs: '4D 3p D 3p D 3p D 3p D 3p D 6p', keep: 0.125 },
  { name: 'fz30w7r3e', runs: '7D 5p D 5p D 5p D 5p', keep: 0.125 },
  { name: 'fz30w6r4e', runs: '6D 4p D 4p D 4p D 4p D 4p', keep: 0.125 },
  { name: 'fz30w5r4e', runs: '5D 4p D 4p D 4p D 4p D 5p', keep: 0.125 },
  { name: 'fz30w6r3e', runs: '6D 5p D 5p D 5p D 6p', keep: 0.125 },
  { name: 'fz30w4r3g-q128', runs: '4D 3p D 4p D 5p D 11p', keep: 0.25, qtile: 128 },
  { name: 'fz30w5r2b-q128', runs: '5D 5p D 7p D 11p', keep: 0.25, qtile: 128 },
  { name: 'fz30w7r3e-q128', runs: '7D 5p D 5p D 5p D 5p', keep: 0.125, qtile: 128 },
  { name: 'fz30w6r4e-q128', runs: '6D 4p D 4p D 4p D 4p D 4p', keep: 0.125, qtile: 128 },
  // refreshes closer together early, where the shape metric is decided, farther apart late
  { name: 'fz30w5g', runs: '5D 3p D 3p D 4p D 5p D 6p', keep: 0.125 },
  { name: 'fz30w5h', runs: '5D 3p D 4p D 4p D 5p D 5p', keep: 0.125 },
  { name: 'fz30w6g', runs: '6D 4p D 5p D 6p D 6p', keep: 0.125 },
  { name: 'fz30w6g-q128', runs: '6D 3p D 3p D 4p D 4p D 6p', keep: 0.125, qtile: 128 },
  { name: 'fz30w5r5-q128', runs: '5D 4p D 4p D 3p D 3p D 3p D 3p', keep: 0.125, qtile: 128 },
  { name: 'fz30w7g-q128', runs: '7D 3p D 4p D 5p D 8p', keep: 0.125, qtile: 128 },
  // cache=lazy: no sparse part at dense steps
  { name: 'lz30w6r4e', runs: '6D 4p D 4p D 4p D 4p D 4p', keep: 0.125, lazy: true },
  { name: 'lz30w7r3e', runs: '7D 5p D 5p D 5p D 5p', keep: 0.125, lazy: true },
  { name: 'lz30w5r4e', runs: '5D 4p D 4p D 4p D 4p D 5p', keep: 0.125, lazy: true },
  { name: 'lz30w6r3e', runs: '6D 5p D 5p D 5p D 6p', keep: 0.125, lazy: true },
  { name: 'lz30w5r5e', runs: '5D 3p D 3p D 3p D 4p D 4p D 3p', keep: 0.125, lazy: true },
  { name: 'lz30w6r5e', runs: '6D 3p D 3p D 4p D 4p D 6p', keep: 0.125, lazy: true },
  { name: 'lz30w4r4e', runs: '4D 4p D 4p D 4p D 4p D 6p', keep: 0.125, lazy: true },
  { name: 'lz30w5r3e', runs: '5D 5p D 6p D 6p D 5p', keep: 0.125, lazy: true },
  { name: 'lz30w6r2e', runs: '6D 7p D 7p D 8p', keep: 0.125, lazy: true },
  { name: 'lz30w7r2e', runs: '7D 7p D 7p D 7p', keep: 0.125, lazy: true },
  { name: 'lz30w8r2e', runs: '8D 7p D 7p D 6p', keep: 0.125, lazy: true },
];

/** The keep of every step: runs expanded, D → 1, p → the schedule's keep; throws unless they cover the 30 steps. */
export function stepKeeps(s: StepSchedule): number[] {
  const keeps = s.runs.trim().split(/\s+/).flatMap((run) => {
    const m = /^(\d*)([Dp])$/.exec(run);
    if (!m) throw new Error(`schedule ${s.name}: run '${run}' is not <count>D or <count>p`);
    return new Array<number>(m[1] ? Number(m[1]) : 1).fill(m[2] === 'D' ? 1 : s.keep);
  });
  if (keeps.length !== SCHEDULE_STEPS) throw new Error(`schedule ${s.name}: ${keeps.length} steps, not ${SCHEDULE_STEPS}`);
  return keeps;
}

/** The `--prune` value of a schedule: its keeps with repeats as FxN (compiler/commands/compile-calibration.ts). */
export function pruneValue(s: StepSchedule): string {
  const runs: [number, number][] = [];
  for (const k of stepKeeps(s)) {
    const last = runs.at(-1);
    if (last && last[0] === k) last[1]++;
    else runs.push([k, 1]);
  }
  const text = runs.map(([k, c]) => (c > 1 ? `${k}x${c}` : `${k}`)).join('/');
  return `schedule=${text},select=online,cache=${s.lazy ? 'lazy' : 'frozen'}${s.qtile ? `,qtile=${s.qtile}` : ''}`;
}

/**
 * What each step runs under cache=frozen or lazy (passes/prune-residual.ts): 'dense' every tile, no sparse part (a
 * dense step before another; lazy: every dense step), 'refresh' every tile and the sparse part (frozen: a dense step
 * before a pruned one), 'select' (lazy: the first pruned step after a dense one) the sparse part over lists it
 * selects, 'pruned' the sparse part over the carried lists.
 */
export type StepKind = 'dense' | 'refresh' | 'select' | 'pruned';

export function stepKinds(keeps: readonly number[], lazy = false): StepKind[] {
  const plan = residualPlan(keeps, lazy ? 'lazy' : 'frozen');
  return keeps.map((_, i) => (plan.refresh[i] ? (plan.sparseKeeps[i] ? 'refresh' : 'dense')
    : lazy && plan.anchor[i] ? 'select' : 'pruned'));
}

/** A schedule's 30 steps summed from its step kinds' times (bench/attention-sparse-cuda.ts --residual), beside dense. */
export interface ScheduleSum {
  readonly name: string; readonly qtile: number; readonly keep: number;
  readonly dense: number; readonly refresh: number; readonly pruned: number;
  /** lazy schedules' selecting steps (absent before cache=lazy existed) */
  readonly select?: number;
  readonly ms: number; readonly denseMs: number;
}

/** The steps of each kind in a schedule. */
export function kindCounts(s: StepSchedule): Record<StepKind, number> {
  const counts = { dense: 0, refresh: 0, select: 0, pruned: 0 };
  for (const k of stepKinds(stepKeeps(s), s.lazy)) counts[k]++;
  return counts;
}

/** A schedule's label: 'steps 0–5 dense, then runs 4p D 4p … at 0.125' from its runs. */
export function scheduleLabel(s: StepSchedule): string {
  const [first, ...rest] = s.runs.trim().split(/\s+/);
  const warm = Number(first!.slice(0, -1) || 1);
  return `steps 0–${warm - 1} dense, then ${rest.join(' ')} at ${s.keep}${s.qtile ? `, query tiles of ${s.qtile}` : ''}`;
}

// `npx tsx bench/step-schedules.ts <name>…`: each named schedule as `<name>:<--prune value>` (prune-online.sh's form)
if (process.argv[1]?.endsWith('step-schedules.ts')) {
  const names = process.argv.slice(2);
  for (const name of names) {
    const s = STEP_SCHEDULES.find((x) => x.name === name);
    if (!s) throw new Error(`no schedule ${name} (${STEP_SCHEDULES.map((x) => x.name).join(', ')})`);
    console.log(`${s.name}:${pruneValue(s)}`);
  }
}
