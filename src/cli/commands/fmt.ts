import { writeFileAtomic } from '../../io/atomic';
import { readTextFile } from '../../graph/load';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { parsePrototxtAll } from '../../../grammar';
import { ChaiqError, formatError } from '../../errors';
import { bindMessageAll } from '../../proto/bind';
import { formatCanonical, reprintLossless } from '../../print/format';

interface FmtArgs {
  file: string;
  check: boolean;
  canonical: boolean;
  'in-place': boolean;
  type: string;
  bind: boolean;
}

/** yargs hands a lone `-` positional over as '' */
const isStdin = (file: string) => file === '-' || file === '';

function readInput(file: string): string {
  return readTextFile(isStdin(file) ? '-' : file);
}


/**
 * `chaiq fmt FILE`: canonical formatting to stdout (or in place). The file must parse and bind to
 * the schema; every error found is reported as `file:line:col: error: ...` and the exit code is 1.
 * `--check`: exit 0 when re-printing the lossless syntax tree gives the file back byte for byte.
 */
export const fmtCommand: CommandModule<{}, FmtArgs> = {
  command: 'fmt <file>',
  describe: 'print a prototxt in canonical layout (comments kept); --check verifies the lossless round trip',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'prototxt file (- for stdin)' })
      .option('check', { type: 'boolean', default: false, describe: 'only check that the file re-prints byte for byte' })
      .option('canonical', { type: 'boolean', default: false, describe: 'with --check: also require the file to be in canonical layout already' })
      .option('in-place', { alias: 'i', type: 'boolean', default: false, describe: 'rewrite the file (atomically) instead of printing' })
      .option('type', { type: 'string', default: 'caffe.NetParameter', describe: 'message type the file holds' })
      .option('bind', { type: 'boolean', default: true, describe: 'check fields and values against caffe.proto (--no-bind: syntax only)' }),
  handler: async (args) => {
    const file = args.file;
    const text = readInput(file);
    const shown = isStdin(file) ? '<stdin>' : file;
    const parsed = parsePrototxtAll(text, shown);
    let errors = parsed.errors;
    if (!errors.length && parsed.doc && args.bind) errors = bindMessageAll(parsed.doc, args.type).errors;
    if (errors.length || !parsed.doc) {
      if (errors.length === 1 || !errors.length) throw errors[0] ?? new ChaiqError('cannot parse', { file: shown });
      for (const e of errors) process.stderr.write(formatError(e) + '\n');
      process.exitCode = 1;
      return;
    }
    const doc = parsed.doc;
    if (args.check) {
      if (reprintLossless(doc) !== text) {
        process.stderr.write(`${shown}: error: re-printing the syntax tree does not reproduce the file byte for byte\n`);
        process.exitCode = 1;
      } else if (args.canonical && formatCanonical(doc) !== text) {
        process.stderr.write(`${shown}: error: not in canonical layout (run \`chaiq fmt --in-place\`)\n`);
        process.exitCode = 1;
      } else process.exitCode = 0;
      return;
    }
    const out = formatCanonical(doc);
    if (args['in-place'] && !isStdin(file)) {
      if (out !== text) writeFileAtomic(file, out);
    } else process.stdout.write(out);
  },
};
