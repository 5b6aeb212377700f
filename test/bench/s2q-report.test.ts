import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderS2qReport } from '../../bench/s2q-report.ts';

const RESULTS = join(import.meta.dirname, '../../bench/results/tiny-s2q');

describe('bench/s2q-report.ts', () => {
  it('renders a table row per present method with deltas vs FP, calibration time, and one bar per result', () => {
    const dir = mkdtempSync(join(tmpdir(), 's2q-report-'));
    try {
      for (const f of ['fp.json', 'w4a6-rtn.json', 'w4a6-s2q.json', 'w4a6-s2q.compile.json']) copyFileSync(join(RESULTS, f), join(dir, f));
      const { md, svg } = renderS2qReport(dir, 'plot.svg');
      const s2q = JSON.parse(readFileSync(join(dir, 'w4a6-s2q.json'), 'utf8')) as { reference: { psnr: number } };
      expect(md).toContain('## W4A6');
      expect(md).not.toContain('## W4A4');
      const row = md.split('\n').find((l) => l.startsWith('| **S²Q-VDiT**'))!;
      expect(row).toContain(s2q.reference.psnr.toFixed(2));
      expect(row).toMatch(/\| \d+ \|$/);
      expect(md.split('\n').find((l) => l.startsWith('| RTN'))).toMatch(/\| – \|$/);
      expect(svg.match(/<title>/g)?.length).toBe(2);
      expect(md).not.toContain('over calibration seeds');
      // a second seed of one selection adds the Table 6 rows with mean ± SD over the seeds
      for (const f of ['w4a4-s2q.json', 'w4a4-s2q-s1.json']) copyFileSync(join(RESULTS, f), join(dir, f));
      const seeds = renderS2qReport(dir, 'plot.svg').md;
      const ps = ['w4a4-s2q.json', 'w4a4-s2q-s1.json'].map((f) =>
        (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { reference: { psnr: number } }).reference.psnr);
      const seedRow = seeds.split('\n').find((l) => l.startsWith('| SDS') && l.includes('(s1)'))!;
      expect(seedRow).toContain(`${((ps[0]! + ps[1]!) / 2).toFixed(2)} ± ${(Math.abs(ps[0]! - ps[1]!) / Math.SQRT2).toFixed(2)}`);
      writeFileSync(join(dir, 'fp.json'), '{}');
      expect(() => renderS2qReport(dir, 'plot.svg')).toThrow(/no fp.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
