import { describe, expect, it } from 'vitest';
import { parsePrune, pruneFromStore } from '../../../compiler/commands/compile-calibration.ts';
import { modelDims } from '../../../compiler/model/config.ts';
import { loadModel } from '../../../compiler/models.ts';

describe('--prune select=online', () => {
  it('parses keep, tile and select; online needs no store', () => {
    expect(parsePrune('keep=0.5,select=online')).toEqual({ keeps: [0.5], tile: 64, online: true });
    expect(parsePrune('keep=0.25,select=online,tile=32')).toEqual({ keeps: [0.25], tile: 32, online: true });
    expect(parsePrune('keep=0.5,select=store')).toEqual({ keeps: [0.5], tile: 64 });
    expect(() => parsePrune('keep=0.5,select=dynamic')).toThrow(/select must be store or online, got 'dynamic'/);
    expect(() => parsePrune('schedule=1/0.5,select=online')).toThrow(/select=online takes keep=F, not a schedule/);
    expect(() => parsePrune('select=online')).toThrow(/one of keep, schedule/);
    expect(pruneFromStore(parsePrune('keep=0.5,select=online,tile=16'), undefined))
      .toEqual({ keep: 0.5, tile: 16, keepFirst: 0, online: true });
    expect(() => pruneFromStore(parsePrune('keep=0.5'), undefined)).toThrow(/--calib-store <dir> .* or select=online/);
  });

  it('keeps a joint model\'s leading text tokens (the class-conditioned tiny has none)', () => {
    const tiny = loadModel('tiny');
    const o = pruneFromStore(parsePrune('keep=0.5,select=online'), undefined, tiny) as { keepFirst: number };
    expect(tiny.config?.block).toBe('joint');
    expect(o.keepFirst).toBe(modelDims(tiny.config!).textTokens);
  });
});
