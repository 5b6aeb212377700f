/** Thrown by a command that has already reported its failure and only needs the exit code set. */
export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export interface GlobalArgs {
  readonly json: boolean;
  readonly verbose: boolean;
}

/** Prints either the JSON object (with --json) or the human text. */
export function emit(args: GlobalArgs, json: unknown, text: () => string): void {
  process.stdout.write(args.json ? `${JSON.stringify(json, null, 2)}\n` : `${text()}\n`);
}

export function fmt(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(digits - 1) : x.toFixed(digits);
}

/** Fixed-width text table: first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The --weights option every model-running command shares. */
export const WEIGHTS_OPTION = {
  type: 'string',
  describe: "safetensors file, or 'seeded' for seeded initialisation; default: the preset's shipped weights (tiny), else seeded",
} as const;

/** `--kernel op=variant,...`: forced WGSL kernels (targets/wgsl/select.ts), e.g. to compare qgemm variants. */
export const KERNEL_OPTION = {
  type: 'string',
  describe: 'force WGSL kernel variants, e.g. qgemm=dp4a or qgemm=sgmat,linear=direct (default: by device)',
} as const;
