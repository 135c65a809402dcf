import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { ChaiqError, formatError } from '../errors';
import { commands } from './commands';
import { escapeForMessage } from '../io/sniff';

/**
 * Runs the CLI and returns the exit code. Bad input (ChaiqError) becomes one line on stderr;
 * anything else is an internal error (stack shown only with CHAIQ_DEBUG=1).
 */
export async function main(argv: string[], scriptName = 'chaiq', only?: CommandModule<any, any>): Promise<number> {
  let exitCode = 0;
  const y = yargs(argv)
    .scriptName(scriptName)
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? new ChaiqError(msg, {}, 2);
    });
  if (only) {
    y.command({ ...only, command: '$0' } as CommandModule<any, any>);
  } else {
    for (const c of commands) y.command(c as CommandModule<any, any>);
    y.demandCommand(1, 'give a command; see --help');
  }
  try {
    const r = await y.parseAsync();
    if (typeof (r as any).__exitCode === 'number') exitCode = (r as any).__exitCode;
    if (typeof process.exitCode === 'number') exitCode = process.exitCode;
  } catch (e) {
    if (e instanceof ChaiqError) {
      // one line, whatever bytes the input put in the message
      process.stderr.write(escapeForMessage(formatError(e)) + '\n');
      return e.exitCode;
    }
    const err = e as Error;
    if (process.env.CHAIQ_DEBUG) process.stderr.write((err && err.stack) + '\n');
    else process.stderr.write(`error: internal error: ${err && err.message ? err.message : String(e)} (set CHAIQ_DEBUG=1 for details)\n`);
    return 70;
  }
  return exitCode;
}
