import { describe, expect, it } from 'vitest';
import { openDenoiser, type SessionOptions } from '../../../compiler/generate/session.ts';
import { buildDiT } from '../../../compiler/model/dit.ts';
import type { LoadedModel } from '../../../compiler/models.ts';
import { seededWeights } from '../../../compiler/weights/init.ts';
import { graph, node, tensorType } from '../../../ir/index.ts';
import { narrowTinySmallClip } from '../model/narrow-tiny.ts';

/*
 * openDenoiser's prune option: a quantized build prunes before its lowering (after it, the fused graph no longer shows
 * the block self-attentions and pruneTokens found nothing: the build ran dense, silently); a model with nothing to
 * prune is an error. CPU backend, a narrow tiny DiT with seeded weights, one clip.
 */

const config = narrowTinySmallClip(2);
const dit = buildDiT(config);
const tiny: LoadedModel = { name: 'narrow-tiny', graph: dit, weights: seededWeights(dit, 7), config, weightsFrom: 'seeded' };
const prune = { keep: 0.5, tile: 4, online: true as const };

/** One CPU forward of the session at a fixed x, t = 0.5 and class 3 (the conditional and the null half). */
async function velocity(opts: Partial<SessionOptions>): Promise<Float32Array> {
  const s = await openDenoiser(tiny, { backend: 'cpu', dtype: 'f32', clips: 1, ...opts });
  try {
    const n = s.clipShape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: 2 * n }, (_, i) => Math.sin(i * 0.7) * 0.8);
    return await s.denoise(x, Float32Array.of(0.5, 0.5), Int32Array.of(3, s.nullClass));
  } finally {
    s.close();
  }
}

// seeded weights move the velocity little (≈7e-5 of 0.56 here); unpruned builds agree bitwise
const differs = (a: Float32Array, b: Float32Array): boolean => a.some((x, i) => Math.abs(x - b[i]!) > 1e-6);

describe('openDenoiser prune', () => {
  it('prunes a quantized build too (its forward moves off the unpruned one), as it does the FP build', async () => {
    const quant = { setting: 'w4a8', keepFp: [] };
    const [q, qp] = [await velocity({ quant }), await velocity({ quant, prune })];
    expect(differs(q, qp)).toBe(true);
    const [fp, fpp] = [await velocity({}), await velocity({ prune })];
    expect(differs(fp, fpp)).toBe(true);
    // the pruned quantized build is still the quantized model, not the FP one
    expect(differs(qp, fpp)).toBe(true);
  }, 120_000);

  it('names a model with no block self-attention instead of running it dense', async () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [2, 2, 4, 4, 3]));
    const t = node('input', [], { name: 't' }, tensorType('f32', [2]));
    const y = node('input', [], { name: 'y' }, tensorType('i32', [2]));
    const model: LoadedModel = {
      name: 'no-attention', graph: graph('no-attention', [x, t, y], [node('mul', [x, x])]),
      weights: { get: () => undefined, names: () => [] }, weightsFrom: 'none',
    };
    await expect(openDenoiser(model, { backend: 'cpu', dtype: 'f32', prune })).rejects.toThrow(/no-attention has no block self-attention/);
  });
});
