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
      expect(md).not.toContain('qgemm vs PyTorch');
      const row = md.split('\n').find((l) => l.startsWith('| vdit CUDA W4A8'))!;
      const [torchMs, cudaMs] = [344.3358612060547, 546.6880493164062];
      expect(row).toContain(`${(torchMs / cudaMs).toFixed(3)}×`);
      // the kernel table sums to 100 % over its groups and lists the attention first
      expect(md.split('\n').find((l) => l.startsWith('| attention_mma'))).toMatch(/\| 30 \| [\d.]+ \| 56\.\d \|/);
      // the per-shape qgemm table: ours vs torch bf16 from the two files of one call
      for (const f of ['qgemm-cuda.json', 'qgemm-cuda-fp8.json', 'torch-linear.json']) copyFileSync(join(RESULTS, f), join(dir, f));
      const q = renderCudaReport(dir).split('\n').find((l) => l.startsWith('| 17776×1920→1920 '))!;
      expect(q).toMatch(/\| 120 \| 128x128 \| 324 \| 168 \| 678 \| 123 \| 1043 \| 0\.48× \| exact \|/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
