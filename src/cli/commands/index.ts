import type { CommandModule } from 'yargs';
import { infoCommand } from './info';

/**
 * Every chaiq sub-command, one module each under src/cli/commands/.
 * A command handler reports failure by throwing ChaiqError, or sets `process.exitCode` (lint/diff 0/1/2).
 */
export const commands: CommandModule<any, any>[] = [
  require('./fmt').fmtCommand,
  infoCommand,
  require('./lint').lintCommand,
  require('./diff').diffCommand,
  ...(({ quantizeCommand, mergeStatsCommand }) => [quantizeCommand, mergeStatsCommand])(require('./quantize')),
  require('./simulate').simulateCommand,
  require('./merge-results').mergeResultsCommand,
  require('./forward').forwardCommand,
  require('./demo').demoCommand,
];
