import { readTextFile } from '../../graph/load';
import type { CommandModule } from 'yargs';
import { ChaiqError } from '../../errors';
import { lintText, formatDiagnostic } from '../../lint/lint';
import { RULES } from '../../lint/rules';
import type { LintDiagnostic } from '../../lint/rules';
import type { QuantMode } from '../../layers/types';
import { loadWeights } from '../../proto/caffemodel';

interface LintArgs {
  files: string[];
  weights?: string;
  quant_type?: QuantMode;
  disable?: string;
  format: 'text' | 'json';
}

/** `chaiq lint`: exit 0 clean (warnings allowed), 1 errors, 2 usage or unreadable input. */
export const lintCommand: CommandModule<{}, LintArgs> = {
  command: 'lint <files..>',
  describe: 'check precision-annotated prototxts for what CHaiDNN would get wrong',
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'prototxt files' })
      .option('weights', { type: 'string', describe: 'caffemodel, to check th_params against max|w|' })
      .option('quant_type', { choices: ['Xilinx', 'DynamicFixed'] as const, describe: 'mode to check against (default: what the file declares)' })
      .option('disable', { type: 'string', describe: `comma-separated rule ids to skip: ${Object.keys(RULES).join(', ')}` })
      .option('format', { choices: ['text', 'json'] as const, default: 'text' as const }),
  handler: async (args) => {
    const disable = args.disable ? args.disable.split(',').map((s) => s.trim()).filter(Boolean) : [];
    for (const r of disable) {
      if (!(r in RULES)) throw new ChaiqError(`--disable: unknown rule '${r}' (rules: ${Object.keys(RULES).join(', ')})`, {}, 2);
    }
    let weights;
    if (args.weights) {
      try {
        weights = await loadWeights(args.weights);
      } catch (e) {
        if (e instanceof ChaiqError) throw new ChaiqError(e.message, e.loc, 2);
        throw e;
      }
    }
    const all: LintDiagnostic[] = [];
    for (const file of args.files) {
      const text = readTextFile(file);
      all.push(...lintText(text, file, { weights, weightsFile: args.weights, quantType: args.quant_type, disable }));
    }
    if (args.format === 'json') process.stdout.write(JSON.stringify(all, null, 2) + '\n');
    else {
      for (const d of all) process.stdout.write(formatDiagnostic(d) + '\n');
      const errors = all.filter((d) => d.severity === 'error').length;
      process.stderr.write(`${errors} error(s), ${all.length - errors} warning(s) in ${args.files.length} file(s)\n`);
    }
    process.exitCode = all.some((d) => d.severity === 'error') ? 1 : 0;
  },
};
