import { describe, expect, it } from 'vitest';
import { runBench, type BenchReport } from '../../../compiler/bench/bench-run.ts';
import { modelGemmShapes } from '../../../compiler/bench/gemm-shapes.ts';
import { loadModel } from '../../../compiler/models.ts';
import { openDevice } from '../../../runtime/device.ts';

const gpu = await openDevice().catch(() => undefined);
const base = {
  model: 'tiny', weights: 'seeded', quants: ['w4a8'], warmup: 0, repeats: 1, shapes: true, step: false,
  builds: [] as string[], seed: 3, progress: (): void => {},
};

describe('modelGemmShapes', () => {
  it('lists the distinct quantized linears of tiny with their counts, largest total work first', () => {
    const shapes = modelGemmShapes(loadModel('tiny', { weights: 'seeded' }).graph);
    expect(shapes.length).toBeGreaterThan(1);
    const work = shapes.map((s) => 2 * s.m * s.k * s.n * s.count);
    expect([...work].sort((a, b) => b - a)).toEqual(work);
    expect(shapes.every((s) => s.count >= 1 && s.k > 0 && s.n > 0 && s.m > 0)).toBe(true);
  });
});

describe.skipIf(!gpu)('vdit bench on Dawn (tiny, one shape, tiny repeats; no timing asserts)', () => {
  it('produces a well-formed report: variants present, every available qgemm variant exact, a w4a8 step', async () => {
    const smallest = modelGemmShapes(loadModel('tiny', { weights: 'seeded' }).graph).at(-1)!;
    const only = [`${smallest.m}x${smallest.k}x${smallest.n}`];
    const r = JSON.parse(JSON.stringify(await runBench({ ...base, only, step: true, builds: ['w4a8', 'w4a8@keep=0.5', 'w4a8@online=0.5'] }))) as BenchReport;
    expect(r.format).toBe('vdit-bench/1');
    expect(r.device.versions.webgpu).toBeTruthy();
    expect(r.shapes.map((s) => `${s.m}x${s.k}x${s.n}`)).toEqual(only);
    const exact = Object.fromEntries(r.exactness.map((e) => [e.variant, e]));
    expect(exact['direct']?.exact).toBe(true);
    expect(exact['dp4a']?.exact ?? exact['dp4a']?.skipped).toBeTruthy();
    for (const e of r.exactness) expect(e.error).toBeUndefined();
    expect(r.exactness.filter((e) => e.exact === false)).toEqual([]);
    const variants = r.gemms.filter((g) => g.build === 'w4a8').map((g) => g.variant);
    expect(variants).toEqual(expect.arrayContaining(['sgmat', 'dp4a', 'direct']));
    const timed = r.gemms.filter((g) => g.medianMs !== undefined);
    expect(timed.some((g) => g.variant === 'direct')).toBe(true);
    expect(timed.some((g) => g.build === 'f32')).toBe(true);
    for (const g of timed) expect(g.medianMs! > 0 && g.tops! > 0 && g.samplesMs!.length === 1).toBe(true);
    const sgmat = r.gemms.find((g) => g.variant === 'sgmat')!;
    expect(sgmat.medianMs !== undefined || typeof sgmat.skipped === 'string').toBe(true);
    const [step] = r.step;
    expect(step?.build).toBe('w4a8');
    expect(step?.error).toBeUndefined();
    expect(step!.gpuMs! > 0 && step!.peakBytes! >= step!.paramBytes! + step!.tempBytes!).toBe(true);
    expect(step!.byOp!.some((o) => o.op === 'qgemm')).toBe(true);
    // the timing-only pruned build runs block-sparse attention in place of every block's self-attention
    const sparse = r.step[1]!;
    expect([sparse.build, sparse.error]).toEqual(['w4a8@keep=0.5', undefined]);
    expect(sparse.byOp!.find((o) => o.op === 'sparse_attention')?.count).toBe(step!.byOp!.find((o) => o.op === 'attention')!.count);
    // the online build also runs one tile_select per block
    const online = r.step[2]!;
    expect([online.build, online.error]).toEqual(['w4a8@online=0.5', undefined]);
    expect(online.byOp!.find((o) => o.op === 'tile_select')?.count).toBe(sparse.byOp!.find((o) => o.op === 'sparse_attention')!.count);
  }, 300_000);

  it('rejects bad options with a precise message before opening anything', async () => {
    await expect(runBench({ ...base, quants: ['w3a3'] })).rejects.toThrow(/--quant 'w3a3' is not one of/);
    await expect(runBench({ ...base, builds: ['int2'] })).rejects.toThrow(/--builds: 'int2'/);
    await expect(runBench({ ...base, builds: ['f16@keep=2'] })).rejects.toThrow(/expected @keep=F or @online=F with F in \(0, 1\]/);
    await expect(runBench({ ...base, repeats: 0 })).rejects.toThrow(/--repeats must be an integer ≥ 1/);
    await expect(runBench({ ...base, only: ['1x2x3'] })).rejects.toThrow(/--only: 1x2x3 is not a linear shape/);
  });
});
