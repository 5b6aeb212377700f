import cliProgress from 'cli-progress';

export interface Progress {
  /** marks `value` done; ms of the last unit for the rate display; total when it became known only now */
  update(value: number, ms: number, total?: number): void;
  stop(): void;
}

const QUIET: Progress = { update: () => undefined, stop: () => undefined };

/**
 * A progress bar on stderr; with --json nothing; when stderr is not a terminal (logs, CI) one plain line per tenth
 * of the work, so long runs still show they are alive without filling the log.
 */
export function createProgress(label: string, total: number, json: boolean): Progress {
  if (json) return QUIET;
  if (!process.stderr.isTTY) return createLogProgress(label, total);
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

function createLogProgress(label: string, total: number): Progress {
  let shown = 0;
  let all = total;
  return {
    update: (value, ms, t) => {
      if (t !== undefined) all = t;
      const tenth = Math.floor((10 * value) / Math.max(all, 1));
      if (tenth > shown || value === all) {
        shown = tenth;
        process.stderr.write(`${label}: ${value}/${all} (${ms.toFixed(0)} ms/step)\n`);
      }
    },
    stop: () => undefined,
  };
}
