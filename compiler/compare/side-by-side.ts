/** Two texts in two columns of equal width, long lines wrapped (not cut), a ' │ ' rule between them. */
export function sideBySide(left: string, right: string, width: number, titles: readonly [string, string]): string {
  const col = Math.max(20, Math.floor((width - 3) / 2));
  const wrap = (text: string): string[] => text.replace(/\t/g, '  ').split('\n').flatMap((l) => chunk(l, col));
  const [a, b] = [[titles[0], '─'.repeat(col), ...wrap(left)], [titles[1], '─'.repeat(col), ...wrap(right)]];
  const lines: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    lines.push(`${(a[i] ?? '').padEnd(col)} │ ${b[i] ?? ''}`.trimEnd());
  }
  return lines.join('\n');
}

// a wrapped line's continuation is marked so it cannot be read as a new statement
function chunk(line: string, col: number): string[] {
  if (line.length <= col) return [line];
  const out = [line.slice(0, col)];
  for (let i = col; i < line.length; i += col - 2) out.push(`↪ ${line.slice(i, i + col - 2)}`);
  return out;
}

/** Terminal width, else 2×80 + the rule (pipes, files). */
export function terminalWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 163;
}
