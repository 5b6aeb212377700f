import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderPruneReport } from '../../bench/prune-report.ts';

const RESULTS = join(import.meta.dirname, '../../bench/results/prune');

describe('bench/prune-report.ts', () => {
  it('renders a row per present pruned build vs its dense twin, the kernel and step tables, and plot points', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prune-report-'));
    try {
      for (const f of ['fp.json', 'keep0.5.json', 'keep0.5.compile.json', 'w4a6.json', 'w4a6-keep0.5.json',
        'w4a6-keep0.5.compile.json', 'attention-wgsl.json', 'step-prune.json']) copyFileSync(join(RESULTS, f), join(dir, f));
      const { md, svg } = renderPruneReport(dir, 'plot.svg');
      const half = JSON.parse(readFileSync(join(dir, 'keep0.5.json'), 'utf8')) as { reference: { psnr: number } };
      const row = md.split('\n').find((l) => l.startsWith('| static, keep 0.5 '))!;
      expect(row).toContain(`| 0.50 |`);
      expect(row).toContain(half.reference.psnr.toFixed(2));
      expect(md).toContain('| W4A6 (RTN) + static keep 0.5 |');
      expect(md).not.toContain('| static, keep 0.25 ');
      expect(md).toMatch(/\| 0\.5 \| 139\/278 \| sparse_attention \| [\d.]+ \| [\d.]+× \|/);
      expect(md).toMatch(/\| f16@keep=0\.5 \| \d+ \| \d+ \| – \| [\d.]+× \| [\d.]+× \|/);
      // one point per FP-compared build with a kept fraction (the W4A6 row has its own dense twin)
      expect(svg.match(/<circle/g)?.length).toBe(1);
      // an online schedule row (its own series on the plot) and the online step table with tile_select's share
      for (const f of ['sch1-.5x3.json', 'sch1-.5x3.compile.json', 'step-online.json']) copyFileSync(join(RESULTS, f), join(dir, f));
      const more = renderPruneReport(dir, 'plot.svg');
      expect(more.md).toMatch(/\| online, schedule 1 \/ 0\.5 ×3 \| 0\.63 \|/);
      expect(more.md).toMatch(/\| f16@online=0\.5 \| \d+ \| \d+ \| \d+ \| [\d.]+× \| [\d.]+× \|/);
      expect(more.svg.match(/<circle/g)?.length).toBe(2);
      // the CUDA online kernel table and the CUDA forward table (attention = attention kernels + selection)
      for (const f of ['q128-sch1-.5x3.json', 'q128-sch1-.5x3.compile.json', 'attention-online-cuda.json',
        'cog-cuda-w4a8.json', 'cog-cuda-w4a8-online0.5-q128.json']) copyFileSync(join(RESULTS, f), join(dir, f));
      const cuda = renderPruneReport(dir, 'plot.svg').md;
      expect(cuda).toMatch(/\| online, schedule 1 \/ 0\.5 ×3, query tiles of 128 \| 0\.63 \|/);
      expect(cuda).toMatch(/\| online \(.*tile_select [\d.]+ \+ sparse_attention_mma [\d.]+\) \| 128 \| 0\.5 \| [\d.]+ \| [\d.]+× \|/);
      const fwd = cuda.split('\n').find((l) => l.startsWith('| W4A8, online keep 0.5, qtile 128 |'))!;
      const run = JSON.parse(readFileSync(join(dir, 'cog-cuda-w4a8-online0.5-q128.json'), 'utf8')) as { timeMs: number };
      expect(fwd).toContain(`| ${run.timeMs.toFixed(1)} |`);
      expect(cuda).toMatch(/\| W4A8 \| [\d.]+ \| [\d.]+ \| – \| 1\.00× \| 1\.00× \|/);
      // the whole-run table: a per-step schedule's tiny quality, the bar, and its CUDA steps summed over the run
      for (const f of ['fz30w6r4e.json', 'fz30w6r4e.compile.json', 'attention-residual-cuda.json']) {
        copyFileSync(join(RESULTS, f), join(dir, f));
      }
      const whole = renderPruneReport(dir, 'plot.svg').md;
      const sums = JSON.parse(readFileSync(join(dir, 'attention-residual-cuda.json'), 'utf8')) as
        { schedules: { name: string; ms: number; denseMs: number }[] };
      const s = sums.schedules.find((x) => x.name === 'fz30w6r4e')!;
      const line = whole.split('\n').find((l) => l.startsWith('| steps 0–5 dense, then 4p D 4p D 4p D 4p D 4p at 0.125 |'))!;
      expect(line).toContain('`schedule=1x6/0.125x4/1/0.125x4/1/0.125x4/1/0.125x4/1/0.125x4,select=online,cache=frozen`');
      expect(line).toMatch(/\| yes \| – \| – \| – \| 5 \/ 5 \/ 20 \|/);
      expect(line).toContain(`| ${s.ms.toFixed(1)} | **${(s.denseMs / s.ms).toFixed(2)}×** |`);
      // a schedule timed but not evaluated keeps its time, its quality cells empty
      expect(whole).toMatch(/\| steps 0–3 dense, then 3p D 3p D 3p D 3p D 3p D 6p at 0\.25 \| .* \| – \| – \| – \| – \| – \| – \| – \| 3 \/ 6 \/ 21 \|/);
      // a lazy schedule: its own label, its selecting steps with the refreshes, and its held-out evaluation
      mkdirSync(join(dir, 'heldout'));
      for (const f of ['lz30w7r3e.json', 'lz30w7r3e.compile.json']) copyFileSync(join(RESULTS, f), join(dir, f));
      for (const f of ['fp.json', 'lz30w7r3e.json']) copyFileSync(join(RESULTS, 'heldout', f), join(dir, 'heldout', f));
      const lazy = renderPruneReport(dir, 'plot.svg').md;
      const lz = sums.schedules.find((x) => x.name === 'lz30w7r3e')!;
      const held = JSON.parse(readFileSync(join(dir, 'heldout', 'lz30w7r3e.json'), 'utf8')) as { reference: { psnr: number } };
      const lzLine = lazy.split('\n').find((l) => l.startsWith('| steps 0–6 dense, then 5p D 5p D 5p D 5p at 0.125, cache=lazy |'))!;
      expect(lzLine).toContain(`| ${held.reference.psnr.toFixed(2)} |`);
      expect(lzLine).toContain(`| 10 / 4 / 16 | ${lz.ms.toFixed(1)} |`);
      expect(lazy).toMatch(/\| online \+ lazy residual, steps 0–6 dense, then 5p D 5p D 5p D 5p at 0\.125 \| 0\.42 \|/);
      // a whole sampling run on CUDA (bench/prune-run-cuda.ts): per kind of step and the run against dense
      copyFileSync(join(RESULTS, 'run-cuda-fz30w6r4e.json'), join(dir, 'run-cuda-fz30w6r4e.json'));
      const sampled = renderPruneReport(dir, 'plot.svg').md;
      const r = JSON.parse(readFileSync(join(dir, 'run-cuda-fz30w6r4e.json'), 'utf8')) as
        { denseRunMs: number; prunedRunMs: number; byKind: { pruned: { medianMs: number } } };
      const runRow = sampled.split('\n').find((l) => l.startsWith('| fz30w6r4e ('))!;
      expect(runRow).toContain(`| ${r.byKind.pruned.medianMs.toFixed(1)} (×20) | ${r.prunedRunMs.toFixed(0)} |`);
      expect(runRow).toContain(`**${(r.denseRunMs / r.prunedRunMs).toFixed(2)}×**`);
      expect(sampled).not.toContain('MiB of buffers); seeded weights, batch 1');
      writeFileSync(join(dir, 'fp.json'), '{}');
      expect(() => renderPruneReport(dir, 'plot.svg')).toThrow(/no fp.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
