import { describe, expect, it } from 'vitest';
import {
  CLASS_NAMES, NULL_CLASS, NUM_CLASSES, PALETTE, classId, className, classParts,
} from '../../../compiler/data/classes.ts';

describe('classes', () => {
  it('has 48 distinct names in id = shape*16 + colour*4 + direction order', () => {
    expect(NUM_CLASSES).toBe(48);
    expect(NULL_CLASS).toBe(48);
    expect(CLASS_NAMES).toHaveLength(48);
    expect(new Set(CLASS_NAMES).size).toBe(48);
    expect(CLASS_NAMES[0]).toBe('red circle right');
    expect(CLASS_NAMES[7]).toBe('green circle up');
    expect(CLASS_NAMES[1 * 16 + 3 * 4 + 2]).toBe('yellow square down');
    expect(CLASS_NAMES[47]).toBe('yellow triangle up');
    expect(classParts(38)).toEqual({ shape: 2, colour: 1, direction: 2 });
  });

  it('parses ids and names in any case and word order', () => {
    for (let i = 0; i < NUM_CLASSES; i++) {
      expect(classId(i)).toBe(i);
      expect(classId(String(i))).toBe(i);
      expect(classId(CLASS_NAMES[i]!)).toBe(i);
      const [c, s, d] = CLASS_NAMES[i]!.split(' ');
      expect(classId(`  ${d!.toUpperCase()} ${c}   ${s}`)).toBe(i);
    }
  });

  it('rejects anything else with the valid forms listed', () => {
    const bads = ['purple circle right', 'red circle', 'red red circle right', '48', '-1', '7.5', '', 48, -1, 2.5];
    for (const bad of bads) {
      expect(() => classId(bad)).toThrow(/expected a class id 0\.\.47 or a name of one colour \(red\|green\|blue/);
    }
    expect(() => className(48)).toThrow(/class id must be an integer in \[0, 47\], got 48/);
  });

  it('keeps palette colours far apart (>= 100 in RGB distance)', () => {
    for (let i = 0; i < PALETTE.length; i++) {
      for (let j = i + 1; j < PALETTE.length; j++) {
        expect(Math.hypot(...PALETTE[i]!.map((v, c) => v - PALETTE[j]![c]!))).toBeGreaterThan(100);
      }
    }
  });
});
