import { describe, expect, it } from 'vitest';
import { sideBySide } from '../../../compiler/compare/side-by-side.ts';

describe('sideBySide', () => {
  it('puts two texts in two equal columns within the width, wrapping long lines instead of cutting them', () => {
    const left = 'fn main() {\n  let x = 1;\n}';
    const right = `__global__ void k() {\n  ${'a'.repeat(70)};\n}`;
    const out = sideBySide(left, right, 83, ['WGSL', 'CUDA']);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^WGSL +│ CUDA$/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(83);
    for (const l of lines) expect(l.indexOf('│')).toBe(41);
    const rightCol = lines.slice(2).map((l) => l.slice(43)).join('\n').replace(/\n↪ /g, '');
    expect(rightCol).toContain(`  ${'a'.repeat(70)};`);
    expect(lines.length).toBe(2 + 4);
  });
});
