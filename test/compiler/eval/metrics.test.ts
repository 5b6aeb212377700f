import { describe, expect, it } from 'vitest';
import { CLIP_LEN, FRAMES, SIZE } from '../../../compiler/data/moving-shapes.ts';
import { aggregate, scoreClip, type ClipScores } from '../../../compiler/eval/metrics.ts';
import { addNoise, gaussianNoise, groundTruth } from './helpers.ts';

const FRAME = SIZE * SIZE * 3;
const ALL: [number, number][] = [];
for (let c = 0; c < 48; c++) for (let s = 0; s < 4; s++) ALL.push([c, 1000 + s]);

function frames(clip: Float32Array, order: readonly number[]): Float32Array {
  const out = new Float32Array(clip.length);
  order.forEach((src, t) => out.set(clip.subarray(src * FRAME, (src + 1) * FRAME), t * FRAME));
  return out;
}

describe('scoreClip on ground truth', () => {
  it('scores all 48 classes x 4 seeds >= 97% accurate and >= 90% on the rest, in a few seconds', () => {
    const t0 = performance.now();
    const agg = aggregate(ALL.map(([c, s]) => scoreClip(groundTruth(c, s), c)));
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(agg.colourAcc).toBeGreaterThanOrEqual(97);
    expect(agg.shapeAcc).toBeGreaterThanOrEqual(97);
    expect(agg.directionAcc).toBeGreaterThanOrEqual(97);
    expect(agg.smoothness).toBeGreaterThanOrEqual(90);
    expect(agg.consistency).toBeGreaterThanOrEqual(90);
    expect(agg.background).toBeGreaterThanOrEqual(90);
  });

  it('scores exact chance when every clip is judged against every label', () => {
    const scores: ClipScores[] = [];
    for (let c = 1; c < 48; c += 4) {
      const clip = groundTruth(c, 7);
      for (let label = 0; label < 48; label++) scores.push(scoreClip(clip, label));
    }
    const agg = aggregate(scores);
    // 1 of 4 colours, 1 of 3 shapes, 1 of 4 directions match; 2 points allow a rare misdetection
    expect(Math.abs(agg.colourAcc - 25)).toBeLessThan(2);
    expect(Math.abs(agg.shapeAcc - 100 / 3)).toBeLessThan(2);
    expect(Math.abs(agg.directionAcc - 25)).toBeLessThan(2);
  });
});

describe('scoreClip on corrupted clips', () => {
  it('scores Gaussian-ish noise at or below chance (<= 45%) and low (<= 30%) on the rest', () => {
    // Chance is 25/33/25%; noise is rejected by the detector (no shape-sized vivid component), so it should land
    // at 0; 45% leaves room for a detector that guesses yet still fails well clear of ground truth.
    for (const [mean, std] of [[0, 0.5], [0, 1], [-0.75, 0.1], [-0.5, 0.3]] as const) {
      const agg = aggregate(Array.from({ length: 48 }, (_, c) => scoreClip(gaussianNoise(100 + c, mean, std), c)));
      const tag = `noise ${mean}/${std}`;
      expect(agg.colourAcc, tag).toBeLessThanOrEqual(45);
      expect(agg.shapeAcc, tag).toBeLessThanOrEqual(45);
      expect(agg.directionAcc, tag).toBeLessThanOrEqual(45);
      expect(agg.smoothness, tag).toBeLessThanOrEqual(30);
      expect(agg.consistency, tag).toBeLessThanOrEqual(30);
      expect(agg.background, tag).toBeLessThanOrEqual(30);
    }
  });

  it('loses smoothness and direction when frames are shuffled', () => {
    const order = [9, 3, 14, 0, 7, 12, 1, 5, 15, 2, 10, 6, 13, 4, 11, 8];
    const agg = aggregate(ALL.map(([c, s]) => scoreClip(frames(groundTruth(c, s), order), c)));
    expect(agg.smoothness).toBeLessThan(40);
    expect(agg.directionAcc).toBeLessThan(60);
    expect(agg.colourAcc).toBeGreaterThanOrEqual(97);
  });

  it('gives no direction to a frozen shape', () => {
    const frozen = frames(groundTruth(21, 3), new Array<number>(FRAMES).fill(0));
    expect(scoreClip(frozen, 21)).toMatchObject({ colour: 1, shape: 1, direction: 0 });
  });

  it('zeroes accuracy when most frames lose the shape', () => {
    const clip = groundTruth(30, 4);
    const bg = groundTruth(30, 4);
    // overwrite 9 frames with a frame whose shape pixels are replaced by a background pixel
    const empty = bg.slice(0, FRAME);
    for (let p = 0; p < SIZE * SIZE; p++) {
      if (empty[3 * p]! > -0.5 || empty[3 * p + 1]! > -0.5) empty.set(bg.subarray(0, 3), 3 * p);
    }
    for (let t = 0; t < 9; t++) clip.set(empty, t * FRAME);
    expect(scoreClip(clip, 30)).toMatchObject({ colour: 0, shape: 0, direction: 0 });
  });

  it('penalises a noisy background but keeps the shape readable', () => {
    const clip = groundTruth(18, 9);
    const noisy = addNoise(clip, 5, 0.08);
    const s = scoreClip(noisy, 18);
    expect(scoreClip(clip, 18).background).toBeGreaterThan(0.95);
    expect(s.background).toBeLessThan(0.5);
    expect(s).toMatchObject({ colour: 1, shape: 1, direction: 1 });
  });

  it('grades background cleanliness down as grain grows', () => {
    const bg = [0.02, 0.05, 0.1].map((std) =>
      aggregate(ALL.slice(0, 48).map(([c, s]) => scoreClip(addNoise(groundTruth(c, s), s, std), c))).background);
    expect(bg[0]!).toBeGreaterThan(95);
    expect(bg[1]!).toBeLessThan(bg[0]! - 20);
    expect(bg[2]!).toBeLessThan(bg[1]! - 20);
  });

  it('penalises colour drift in consistency', () => {
    const clip = groundTruth(4, 2);
    const drift = clip.slice();
    for (let t = 8; t < FRAMES; t++) {
      for (let p = 0; p < SIZE * SIZE; p++) {
        const i = t * FRAME + 3 * p;
        if (drift[i + 1]! > 0) drift[i] = 0.9; // green shape turns green-yellow
      }
    }
    expect(scoreClip(clip, 4).consistency).toBeGreaterThan(0.9);
    expect(scoreClip(drift, 4).consistency).toBeLessThan(0.5);
  });
});

describe('scoreClip / aggregate errors', () => {
  it('rejects wrong sizes, classes and empty lists', () => {
    expect(() => scoreClip(new Float32Array(10), 0)).toThrow(/expects a \[16,32,32,3\] clip of 49152 values, got 10/);
    expect(() => scoreClip(new Float32Array(CLIP_LEN), 48)).toThrow(/class id must be an integer in \[0, 47\]/);
    expect(() => aggregate([])).toThrow(/at least one/);
  });

  it('averages in percent', () => {
    const a: ClipScores = { colour: 1, shape: 0, direction: 1, smoothness: 0.5, consistency: 1, background: 0.25 };
    const b: ClipScores = { colour: 0, shape: 0, direction: 1, smoothness: 1, consistency: 0, background: 0.75 };
    expect(aggregate([a, b])).toEqual({
      colourAcc: 50, shapeAcc: 0, directionAcc: 100, smoothness: 75, consistency: 50, background: 50,
    });
  });
});
