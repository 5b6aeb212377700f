import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCudaReport } from '../../bench/cuda-report.ts';

const RESULTS = join(import.meta.dirname, '../../bench/results/cuda');

describe('bench/cuda-report.ts', () => {
  it('renders only the sections whose files are present, with ratios computed from them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuda-report-'));
    try {
      for (const f of ['cog-cuda-w4a8.json', 'torch-bf16.json', 'gpu.txt']) copyFileSync(join(RESULTS, f), join(dir, f));
      const md = renderCudaReport(dir);
      expect(md).toContain('## cogvideox-2b');
      expect(md).not.toContain('## Tiny model');
      const row = md.split('\n').find((l) => l.startsWith('| vdit CUDA W4A8'))!;
      const [torchMs, cudaMs] = [339.7647247314453, 4149.96044921875];
      expect(row).toContain(`${(torchMs / cudaMs).toFixed(3)}×`);
      // the kernel table sums to 100 % over its groups and lists the flash attention first
      expect(md.split('\n').find((l) => l.startsWith('| attention_flash'))).toMatch(/\| 30 \| [\d.]+ \| 80\.9 \|/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
