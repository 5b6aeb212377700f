import yargs, { type Argv } from 'yargs';
import { devicesCommand } from './commands/devices.ts';
import { inspectCommand } from './commands/inspect.ts';
import { runCommand } from './commands/run.ts';
import { configCommand } from './commands/config.ts';
import { evalCommand } from './commands/eval.ts';
import { generateCommand } from './commands/generate.ts';
import { compileCommand } from './commands/compile.ts';
import { benchCommand } from './commands/bench.ts';
import { calibCommand } from './commands/calib.ts';
import { compareCommand } from './commands/compare.ts';
import { CliExit } from './commands/output.ts';

const COMMANDS = [devicesCommand, inspectCommand, runCommand, configCommand, generateCommand, evalCommand, compileCommand, benchCommand, calibCommand,
  compareCommand];

/** Entry point of `vdit`: one clear error line and a non-zero exit on failure; stack traces only with --verbose. */
export async function main(argv: readonly string[]): Promise<void> {
  const verbose = argv.includes('--verbose');
  let cli: Argv = yargs([...argv])
    .scriptName('vdit')
    .usage('$0 <command> [options]\n\nCompile video diffusion transformers to quantized GPU executables.')
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object instead of text' })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces on errors' })
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .recommendCommands()
    .help()
    .wrap(Math.min(120, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  for (const c of COMMANDS) cli = cli.command(c as never);
  let code = 0;
  try {
    await cli.parseAsync();
  } catch (e) {
    code = e instanceof CliExit ? e.code : 1;
    if (!(e instanceof CliExit)) {
      const err = e as Error;
      process.stderr.write(`vdit: error: ${oneLine(err)}\n`);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      if (e instanceof UsageError) process.stderr.write('run `vdit --help` for usage\n');
    }
  }
  await flush();
  // Dawn keeps the process alive while its instance is referenced: exit explicitly once output is flushed.
  process.exit(code);
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function oneLine(e: Error): string {
  const msg = e.message || String(e);
  return msg.split('\n')[0]!.trim() + (msg.includes('\n') ? ' (…; --verbose for details)' : '');
}

function flush(): Promise<void> {
  return new Promise((resolve) => process.stdout.write('', () => process.stderr.write('', () => resolve())));
}
