import { NUM_CLASSES } from '../data/classes.ts';
import type { ClipRequest } from './generate-clips.ts';

export type EvalSet = 'standard' | 'heldout' | 'quick';

export const EVAL_SETS: readonly EvalSet[] = ['standard', 'heldout', 'quick'];

const STANDARD_SEEDS = 4;
const QUICK_CLASSES = 8;

/**
 * standard: every class (0..47) × seeds 0..3, class-major. heldout: the same with seeds 4..7, clips no setting was
 * chosen on (a choice made on standard, e.g. a pruning schedule, checked on fresh noise). quick: 8 classes × seed 0,
 * class i of the 8 being shape i mod 3, colour i mod 4, direction (i + ⌊i/4⌋) mod 4, so every colour and direction
 * appears twice.
 */
export function evalRequests(set: EvalSet): ClipRequest[] {
  if (set === 'standard' || set === 'heldout') {
    const first = set === 'heldout' ? STANDARD_SEEDS : 0;
    return Array.from({ length: NUM_CLASSES * STANDARD_SEEDS }, (_, i) => ({
      cls: Math.floor(i / STANDARD_SEEDS), seed: first + (i % STANDARD_SEEDS),
    }));
  }
  if (set === 'quick') {
    return Array.from({ length: QUICK_CLASSES }, (_, i) => ({
      cls: (i % 3) * 16 + (i % 4) * 4 + ((i + (i >> 2)) % 4), seed: 0,
    }));
  }
  throw new Error(`unknown eval set '${String(set)}' (${EVAL_SETS.join(', ')})`);
}
