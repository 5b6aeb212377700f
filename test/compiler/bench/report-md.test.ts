import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../../compiler/bench/bench-run.ts';
import { cardPeak } from '../../../compiler/bench/peaks.ts';
import { modelGemmMs, renderBenchMarkdown, type TorchLinear } from '../../../compiler/bench/report-md.ts';

const device = {
  adapter: { vendor: 'nvidia', architecture: '', device: 'nvidia-h100-80gb-hbm3', description: 'NVIDIA: 580.159.04' },
  isFallbackAdapter: false, features: ['shader-f16', 'subgroups'], wgslLanguageFeatures: [], subgroupMinSize: 32,
  subgroupMaxSize: 32, subgroupMatrixConfigs: [{ componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 }],
  limits: {}, flags: ['backend=vulkan'], versions: { node: '20.0.0', webgpu: '0.6.2' },
};
const row = (shape: string, count: number, build: string, variant: string, ms?: number, extra = {}) => {
  const [m, k, n] = shape.split('x').map(Number) as [number, number, number];
  return { shape, m, k, n, count, build, variant, ...(ms !== undefined ? { medianMs: ms, tops: (2 * m * k * n) / (ms * 1e9) } : {}), ...extra };
};
const FIXTURE: BenchReport = {
  format: 'vdit-bench/1', date: '2026-11-25T00:00:00Z', model: 'cogvideox-2b', weights: 'seeded',
  options: { quants: ['w4a8'], warmup: 3, repeats: 10, builds: ['f16', 'w4a8'], seed: 0 }, device,
  peak: { card: 'NVIDIA H100 SXM', match: 'h100', int8Tops: 1979, bf16Tflops: 989 },
  shapes: [{ m: 64, k: 128, n: 256, count: 3, wDtype: 'i4' }, { m: 1, k: 128, n: 64, count: 1, wDtype: 'i4' }],
  exactness: [{ variant: 'sgmat', shape: '37x200x45', exact: true, mismatches: 0 },
    { variant: 'direct', shape: '37x200x45', error: 'kernel qgemm_direct: WGSL compilation failed' }],
  gemms: [
    row('64x128x256', 3, 'w4a8', 'sgmat', 0.5), row('64x128x256', 3, 'w4a8', 'dp4a', undefined, { error: 'boom' }),
    row('64x128x256', 3, 'f16', 'linear_tiled', 2), row('64x128x256', 3, 'f32', 'linear_tiled', 4),
    row('1x128x64', 1, 'w4a8', 'sgmat', 0.25), row('1x128x64', 1, 'f16', 'linear_tiled', 0.1),
  ],
  step: [
    { build: 'f16', elem: 'f16', gpuMs: 300, wallMs: 310, peakBytes: 2 ** 30, paramBytes: 2 ** 29, tempBytes: 2 ** 28,
      dispatches: 10, byOp: [{ op: 'attention', count: 2, ms: 270, percent: 90 }] },
    { build: 'w4a8', error: 'kernel qgemm_sgmat: pipeline creation failed' },
  ],
};
const TORCH: TorchLinear = {
  framework: 'torch 2.11.0', cuda: '13.0', device: 'NVIDIA H100 80GB HBM3',
  shapes: [{ m: 64, k: 128, n: 256, bf16: { medianMs: 1, tflops: 0.004 }, int8: { error: 'self.size(0) needs to be greater than 16' } },
    { m: 1, k: 128, n: 64, bf16: { medianMs: 0.05, tflops: 0.0003 } }],
};

describe('bench report (Markdown from a fixture JSON)', () => {
  const md = renderBenchMarkdown(FIXTURE, TORCH, 'NVIDIA H100 80GB HBM3, 580.159.04');

  it('puts card, driver, versions and flags beside the figures', () => {
    expect(md).toContain('NVIDIA H100 80GB HBM3, 580.159.04');
    expect(md).toContain('`webgpu` 0.6.2');
    expect(md).toContain('`backend=vulkan`');
    expect(md).toContain('i8→i32 16×16×32');
  });

  it('shows the ratios side by side: vs torch bf16, vs our f16 and f32', () => {
    expect(md).toContain('| 64x128x256 | 3 | w4a8 | sgmat | 0.500 |');
    expect(md).toMatch(/\| 64x128x256 \| 3 \| w4a8 \| sgmat \|[^\n]*\| 2\.00× \| – \| 4\.00× \| 8\.00× \|/);
    expect(md).toContain('**failed**: boom');
    expect(md).toContain('self.size(0) needs to be greater');
  });

  it('states the done-when figures honestly, count-weighted over the shapes', () => {
    // torch: 3·1 + 0.05 = 3.05 ms; sgmat: 3·0.5 + 0.25 = 1.75 ms
    expect(modelGemmMs(FIXTURE.gemms, 'w4a8', 'sgmat')).toBeCloseTo(1.75, 9);
    expect(modelGemmMs(FIXTURE.gemms, 'w4a8', 'dp4a')).toBeUndefined();
    expect(md).toContain(`${(3.05 / 1.75).toFixed(3)}× (met; target ≥ 1.0×)`);
    expect(md).toContain('W4A8 denoising step vs our f16 build: not measured');
    expect(md).toContain('**failed**: kernel qgemm_sgmat: pipeline creation failed');
    expect(md).toContain('**failed**: kernel qgemm_direct');
  });

  it('matches peaks by adapter name; an unknown card has none', () => {
    expect(cardPeak(device.adapter)?.int8Tops).toBe(1979);
    expect(cardPeak({ ...device.adapter, device: 'nvidia-h100-pcie', description: '' })?.int8Tops).toBe(1513);
    expect(cardPeak({ vendor: 'mesa', architecture: '', device: 'llvmpipe', description: 'llvmpipe' })).toBeUndefined();
  });
});
