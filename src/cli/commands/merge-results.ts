import type { CommandModule } from 'yargs';
import { warnToStderr } from '../../errors';
import type { WarnFn } from '../../errors';
import { checkInputPaths, checkOutputPaths, writeAllOrNone } from '../../io/outputs';
import { layerReports } from '../../sim/simulate';
import { inputClipWarning } from '../../sim/input-range';
import { accumulatorsJSON, mergeResultsFiles, RESULTS_FORMAT, RESULTS_VERSION, toSimStats } from '../../sim/results';
import { formatSimulateText, simulateReportJson } from './simulate';
import type { SimulateReport } from './simulate';
import { writeAtomic } from './quantize';
import { ChaiqError } from '../../errors';
import { summarizeDetections } from '../../sim/detection';

interface MergeResultsArgs {
  files: string[];
  format: string;
  o?: string;
}

/** The report of the merged shards: what one `chaiq simulate` over all their inputs prints. */
export function mergeResults(args: MergeResultsArgs, warn: WarnFn = warnToStderr): SimulateReport {
  if (args.format !== 'text' && args.format !== 'json') throw new ChaiqError(`--format must be text or json, got '${args.format}'`, {}, 2);
  checkInputPaths(args.files.map((f) => ({ flag: 'merge-results', path: f })));
  checkOutputPaths([{ flag: '-o', path: args.o }], args.files.map((f) => ({ flag: 'an input', path: f })));
  const m = mergeResultsFiles(args.files, warn);
  const stats = toSimStats(m.acc);
  const clip = inputClipWarning(stats.input);
  if (clip) warn(clip);
  const id = m.identity.report;
  if (args.o) {
    writeAtomic(args.o, JSON.stringify({ format: RESULTS_FORMAT, version: RESULTS_VERSION, identity: m.identity, shards: m.shards, accumulators: accumulatorsJSON(m.acc) }) + '\n');
  }
  const r: SimulateReport = {
    images: m.acc.images, mode: id.mode, psum18: id.psum18, output_blob: id.output_blob, top: id.top,
    classification: m.acc.classification, layers: id.metrics === 'layers' ? layerReports(stats) : [],
  };
  if (id.metrics !== 'layers') r.metrics = id.metrics;
  if (m.acc.detection) r.detection = { outputs: m.acc.detection.outputs, summary: summarizeDetections(m.acc.detection.stats) };
  return r;
}

export const mergeResultsCommand: CommandModule<{}, MergeResultsArgs> = {
  command: 'merge-results <files..>',
  describe: 'merge simulate --save_results files (shards of one run) and print the report of the whole run',
  builder: (y: any) =>
    y.positional('files', { type: 'string', array: true })
      .option('format', { type: 'string', default: 'text', describe: 'text or json' })
      .option('o', { alias: 'output', type: 'string', describe: 'also write the merged results file (to merge further)' }),
  handler: async (args) => {
    const r = await writeAllOrNone(async () => mergeResults(args));
    process.stdout.write(args.format === 'json' ? JSON.stringify(simulateReportJson(r), null, 2) + '\n' : formatSimulateText(r));
  },
};
