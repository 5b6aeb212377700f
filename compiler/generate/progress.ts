import cliProgress from 'cli-progress';

export interface Progress {
  /** marks `value` done; ms of the last unit for the rate display; total when it became known only now */
  update(value: number, ms: number, total?: number): void;
  stop(): void;
}

const QUIET: Progress = { update: () => undefined, stop: () => undefined };

/** A progress bar on stderr; silent with --json or when stderr is not a terminal (logs and CI stay clean). */
export function createProgress(label: string, total: number, json: boolean): Progress {
  if (json || !process.stderr.isTTY) return QUIET;
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {value}/{total} | {ms} ms/step | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { ms: '-' });
  return {
    update: (value, ms, total) => {
      if (total !== undefined && total !== bar.getTotal()) bar.setTotal(total);
      bar.update(value, { ms: ms.toFixed(0) });
    },
    stop: () => bar.stop(),
  };
}
