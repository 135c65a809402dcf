import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../io/atomic';
import { checkFlagPaths, checkInputPaths, checkOutputPaths, writeAllOrNone } from '../../io/outputs';
import { ChaiqError, warnToStderr } from '../../errors';
import type { WarnFn } from '../../errors';
import { buildPreprocess, parseList, preprocessOptions } from '../preprocess';
import type { PreprocessArgs } from '../preprocess';
import { parseInputShape, warnImageFlagsIgnored } from '../inputs';
import { loadStats, mergeStats, saveStats } from '../../calib/stats';
import { THRESHOLD_METHODS } from '../../calib/threshold';
import type { ThresholdMethod } from '../../calib/threshold';
import { thresholdSourceHelp, thresholdSourceLegend } from '../threshold-legend';
import { CALIBRATION_MODES } from '../../quant/progressive';
import type { CalibrationMode } from '../../quant/progressive';
import type { Bitwidths } from '../../quant/xilinx';
import { uniformFlMismatch } from '../../quant/dynamicfixed';
import type { FlTriple } from '../../quant/dynamicfixed';
import { makeProgress } from '../progress';
import { withTransformDefaults } from '../traintest';
import { cliFlag, withFlags } from '../flags';
import { THRESHOLD_SEARCHES, type ThresholdSearch } from '../../recover/threshold-search';
import { resolveThreads } from '../../threads';
import { quantize } from '../../pipeline/quantize';
import type { QuantizeOptions, QuantizeResult } from '../../pipeline/quantize';
import { calibrationFromDirectory, calibrationFromMnist } from '../../pipeline/inputs';
import { printQuantizeReport, printXdnnJson } from '../../pipeline/print';
import { NO_PROGRESS } from '../../pipeline/types';
import type { PreprocessContext, ResolvedPreprocess } from '../../pipeline/types';

interface QuantizeArgs extends PreprocessArgs {
  allow_nonfinite?: boolean;
  quant_type: string;
  deploy_model?: string;
  weights?: string;
  quantized_deploy_model?: string;
  bitwidths: string;
  fl_bitwidths: string;
  calibration_directory?: string;
  threads?: number;
  calibration_size: number;
  calibration_seed: number;
  calibration_indices?: string;
  th_method?: string;
  th_search?: string;
  th_search_images?: number;
  pow2: boolean;
  save_stats?: string;
  stats?: string;
  strict: boolean;
  mnist?: string;
  quiet: boolean;
  report?: string;
  optimized_weights?: string;
  calibration?: string;
  output_json?: string;
  equalize?: boolean;
  optimize_rounding?: boolean;
  bias_correction?: boolean;
  df_input?: string;
}

const usage = (msg: string) => new ChaiqError(msg, {}, 2);

export function parseBitwidths(s: string, warn: WarnFn, strict: boolean): Bitwidths {
  const [i, p, o] = parseList(s, 'bitwidths', 3);
  for (const b of [i, p, o]) if (b !== 6 && b !== 8) throw usage(`--bitwidths ${s}: CHaiDNN supports only 6 or 8 bits`);
  if (!(i === p && p === o)) {
    const msg = `--bitwidths ${s} mixes bitwidths: CHaiDNN needs one bitwidth network-wide (activations and weights)`;
    if (strict) throw usage(msg);
    warn(msg);
  }
  return { in: i, params: p, out: o };
}

/** Kept for the commands that import it from here. */
export const writeAtomic = writeFileAtomic;


/** Usage errors that need no file read, before any work or warning; the outputs are checked here too. */
function checkQuantizeUsage(args: QuantizeArgs, needCalib: boolean): void {
  resolveThreads(args.threads);
  if (needCalib && !args.stats && !args.calibration_directory && !args.mnist)
    throw usage('Xilinx mode (and --fl_bitwidths auto) need --calibration_directory DIR, --mnist FILE or --stats FILE');
  for (const f of ['equalize', 'bias_correction', 'optimize_rounding'] as const)
    if (args[f] && !args.optimized_weights) throw usage(`--${f} rewrites the weights: it needs --optimized_weights FILE.caffemodel`);
  if (args.optimized_weights) {
    if (!args.weights) throw usage('--optimized_weights needs --weights FILE.caffemodel');
    if (args.stats) throw usage('--optimized_weights needs calibration images: statistics of the original net do not describe the rewritten one');
    if (!args.quantized_deploy_model) throw usage('--optimized_weights needs --quantized_deploy_model FILE (the prototxt that goes with the new weights)');
  }
  const given = args.calibration_indices ? parseList(args.calibration_indices, 'calibration_indices') : [];
  const size = args.calibration_size;
  if (!Number.isInteger(size) || size < 1) throw usage(`--calibration_size must be a positive integer, got ${size}`);
  if (given.length > size) throw usage(`--calibration_indices lists ${given.length} images but --calibration_size is ${size}`);
  checkFlagPaths(
    [
      { flag: '--deploy_model', path: args.deploy_model },
      { flag: '--weights', path: args.weights },
      { flag: '--stats', path: args.stats },
      { flag: '--mnist', path: args.mnist },
      { flag: '--mean_file', path: args.mean_file },
      { flag: '--calibration_directory', path: args.calibration_directory, dir: true },
    ],
    [
      { flag: '--quantized_deploy_model', path: args.quantized_deploy_model },
      { flag: '--optimized_weights', path: args.optimized_weights },
      { flag: '--save_stats', path: args.save_stats },
      { flag: '--report', path: args.report },
      { flag: '--output_json', path: args.output_json },
    ],
  );
}

function table(rows: string[][]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(w[c]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** What a quantize run produced (for the report and the demo). */
export type { QuantizeResult };

/**
 * --calibration: progressive (XportDNN's, Xilinx mode only) or float (statistics of the float net, which
 * --stats/--save_stats shards hold). The xportdnn binary's default, progressive, yields to float where
 * it cannot apply; asked for explicitly there it is a usage error.
 */
function calibrationMode(args: QuantizeArgs, qt: string, dflt: CalibrationMode): CalibrationMode {
  const given = args.calibration;
  if (given !== undefined && !CALIBRATION_MODES.includes(given as CalibrationMode))
    throw usage(`--calibration must be one of ${CALIBRATION_MODES.join(', ')}, got '${given}'`);
  const mode = (given ?? dflt) as CalibrationMode;
  if (mode !== 'progressive') return mode;
  const clash = qt !== 'Xilinx' ? '--quant_type DynamicFixed (progressive calibration is XportDNN\'s Xilinx-mode algorithm)'
    : args.stats ? '--stats (statistics files hold the float net\'s)'
      : args.save_stats ? '--save_stats (statistics files hold the float net\'s)' : undefined;
  if (!clash) return mode;
  if (given !== undefined) throw usage(`--calibration progressive cannot be combined with ${clash}; use --calibration float`);
  return 'float';
}

export async function runQuantize(args: QuantizeArgs, warn: WarnFn = warnToStderr, defaultCalibration: CalibrationMode = 'float'): Promise<QuantizeResult> {
  const o = quantizeOptionsOf(args, warn, defaultCalibration);
  const r = await withFlags(() => quantize(o));
  if (o.statsOnly) return r;
  writeQuantizeOutputs(args, r);
  printQuantizeSummary(args, r);
  return r;
}

/** --th_search layer|net|group: Xilinx mode, float calibration from images. */
function thresholdSearchOf(args: QuantizeArgs, qt: string): ThresholdSearch | undefined {
  if (args.th_search_images !== undefined && (!Number.isInteger(args.th_search_images) || args.th_search_images < 1)) throw usage(`--th_search_images must be a positive integer, got '${args.th_search_images}'`);
  if (args.th_search === undefined) {
    if (args.th_search_images !== undefined) throw usage('--th_search_images needs --th_search layer|net|group');
    return undefined;
  }
  const v = args.th_search as ThresholdSearch;
  if (!THRESHOLD_SEARCHES.includes(v)) throw usage(`--th_search must be one of ${THRESHOLD_SEARCHES.join(', ')}, got '${args.th_search}'`);
  if (qt !== 'Xilinx') throw usage('--th_search chooses Xilinx thresholds; it needs --quant_type Xilinx');
  if (args.stats) throw usage('--th_search measures on calibration images; it cannot run from --stats');
  if (args.calibration === 'progressive') throw usage('--th_search chooses among thresholds of the float net\'s statistics; it needs --calibration float');
  if (!args.calibration_directory && !args.mnist) throw usage('--th_search needs calibration images (--calibration_directory or --mnist)');
  return v;
}

/** The flags as the pipeline's options: every usage error (and the flag warnings) before any file is read. */
function quantizeOptionsOf(args: QuantizeArgs, warn: WarnFn, defaultCalibration: CalibrationMode): QuantizeOptions {
  const qt = args.quant_type.replace(/^["']|["']$/g, '');
  if (qt !== 'Xilinx' && qt !== 'DynamicFixed') throw usage(`--quant_type must be "Xilinx" or "DynamicFixed", got '${args.quant_type}'`);
  if (!args.deploy_model) throw usage('missing --deploy_model FILE');
  if (!args.quantized_deploy_model && !args.save_stats) throw usage('missing --quantized_deploy_model FILE (the output), or --save_stats FILE alone to only collect statistics');
  // KL is XportDNN's; the DynamicFixed rescale (--optimized_weights) matches its MSE fl choice
  const method = (args.th_method ?? (args.optimized_weights && qt === 'DynamicFixed' ? 'mse' : 'kl')) as ThresholdMethod;
  if (!THRESHOLD_METHODS.includes(method)) throw usage(`--th_method must be one of ${THRESHOLD_METHODS.join(', ')}, got '${args.th_method}'`);
  const thSearch = thresholdSearchOf(args, qt);
  // flags first: a warning (mixed bitwidths) comes only once no usage error can follow
  const bw = parseBitwidths(args.bitwidths, () => undefined, args.strict);
  const flAuto = String(args.fl_bitwidths).trim() === 'auto';
  let flUniform: FlTriple | undefined;
  if (qt === 'DynamicFixed' && !flAuto) {
    const [i, p, o] = parseList(args.fl_bitwidths, 'fl_bitwidths', 3);
    for (const f of [i, p, o]) if (!Number.isInteger(f) || f < 0) throw usage(`--fl_bitwidths ${args.fl_bitwidths}: fractional lengths must be integers >= 0 (CHaiDNN rejects negative ones)`);
    flUniform = { in: i, params: p, out: o };
  }
  const flMismatch = flUniform && uniformFlMismatch(flUniform, String(args.fl_bitwidths));
  if (flMismatch) {
    if (args.strict) throw usage(`${flMismatch} (--strict)`);
    warn(flMismatch);
  }
  const needCalib = qt === 'Xilinx' || flAuto;
  const calibration = calibrationMode(args, qt, defaultCalibration);
  if (needCalib && !args.weights) throw usage(`${qt === 'Xilinx' ? 'Xilinx mode' : '--fl_bitwidths auto'} needs --weights FILE.caffemodel`);
  if (args.output_json && qt !== 'Xilinx') throw usage('--output_json holds Xilinx-mode thresholds; it needs --quant_type Xilinx');
  checkQuantizeUsage(args, needCalib);
  parseBitwidths(args.bitwidths, warn, args.strict);
  const sel = { size: args.calibration_size, seed: args.calibration_seed, indices: args.calibration_indices ? parseList(args.calibration_indices, 'calibration_indices') : [] };
  return {
    mode: qt, deploy: args.deploy_model, weights: args.weights, bitwidths: bw, fl: flAuto ? 'auto' : flUniform, thMethod: method, calibration,
    pow2: args.pow2, strict: args.strict, allowNonfinite: !!args.allow_nonfinite, threads: resolveThreads(args.threads),
    thSearch, thSearchImages: args.th_search_images, dfInput: args.df_input as QuantizeOptions['dfInput'],
    equalize: !!args.equalize, optimizeRounding: !!args.optimize_rounding, biasCorrection: !!args.bias_correction, seed: args.calibration_seed,
    dims: args.dims !== undefined ? parseList(args.dims, 'dims', 3) : undefined,
    inputShape: parseInputShape(args.input_shape, { batchOne: true }),
    inputs: args.mnist ? calibrationFromMnist(args.mnist, sel) : args.calibration_directory ? calibrationFromDirectory(args.calibration_directory, sel) : undefined,
    preprocess: (ctx) => preprocessOfFlags(args, ctx, warn),
    stats: args.stats ? () => loadStats(args.stats!) : undefined,
    statsOnly: !args.quantized_deploy_model && !!args.save_stats,
    onStats: args.save_stats ? (st) => saveStats(args.save_stats!, st) : undefined,
    forBoard: args.optimized_weights ? { weightsName: path.basename(args.optimized_weights) } : undefined,
    warn,
    info: (msg) => {
      if (!args.quiet) process.stderr.write(`chaiq: ${msg}\n`);
    },
    progress: args.quiet ? () => NO_PROGRESS : (total, label, unit) => makeProgress(total, label, unit),
    optionName: cliFlag,
  };
}

/** The image preprocessing flags (a train/test net's transform_param gives their defaults). */
function preprocessOfFlags(args: QuantizeArgs, ctx: PreprocessContext, warn: WarnFn): ResolvedPreprocess | undefined {
  const mnist = { mnist: !!args.mnist };
  if (!ctx.fromTransform) return { pre: buildPreprocess(args, ctx.dims, mnist) };
  // .npy calibration data is the net input as it is: no image preprocessing
  if (ctx.inputs === 'tensors') {
    warnImageFlagsIgnored(args, warn, 'the calibration directory\'s .npy data');
    return undefined;
  }
  const pargs = withTransformDefaults(args, ctx.model.net, args.deploy_model!, warn);
  return { pre: buildPreprocess(pargs, ctx.dims, mnist), meanFile: pargs.mean_file, meanFileGiven: args.mean_file !== undefined };
}

/** The weights first (a prototxt never names layers its caffemodel lacks), then the prototxt, the JSON, the report. */
function writeQuantizeOutputs(args: QuantizeArgs, r: QuantizeResult): void {
  const out = args.quantized_deploy_model!;
  const optimize = args.optimized_weights;
  if (optimize) writeAtomic(optimize, r.caffemodel!);
  if (out === '-') process.stdout.write(r.text!);
  else {
    try {
      writeAtomic(out, r.text!);
    } catch (e) {
      // no half result: weights without their prototxt are removed again
      if (optimize) fs.rmSync(optimize, { force: true });
      throw e;
    }
  }
  if (args.output_json) writeAtomic(args.output_json, printXdnnJson(r.net, r.plan!));
  const bw = parseBitwidths(args.bitwidths, () => undefined, false);
  const pow2 = args.pow2 ? '+pow2' : '';
  if (args.report) writeAtomic(args.report, printQuantizeReport(r.net, r.plan!, r.stats, {
    mode: r.mode, title: `${path.basename(args.deploy_model!)} — ${r.mode} ${bw.out}-bit`,
    summary: [['bitwidths', `${bw.in},${bw.params},${bw.out}`], ...(r.stats ? [['th_method', r.mode === 'Xilinx' ? r.thMethod + pow2 : 'fl auto'] as [string, string]] : [])],
  }));
}

/** The summary table (and in Xilinx mode the legend of its method column), on stdout unless the prototxt went there. */
function printQuantizeSummary(args: QuantizeArgs, r: QuantizeResult): void {
  const summary = r.summary ?? [];
  if (args.quiet || summary.length <= 1) return;
  const legend = r.mode === 'Xilinx' ? thresholdSourceLegend(summary.slice(1).map((row) => row[4])) : '';
  (args.quantized_deploy_model === '-' ? process.stderr : process.stdout).write(table(summary) + legend);
}

function builder(y: any, calibrationDefault: CalibrationMode = 'float') {
  return preprocessOptions(y, { mnist: true })
    .option('calibration', {
      type: 'string',
      describe: `thresholds from the progressively quantized net, layer by layer, as XportDNN (progressive), or from statistics of the float net (float); default ${calibrationDefault}`,
    })
    .option('quant_type', { type: 'string', default: 'Xilinx', describe: 'Xilinx (thresholds from calibration) or DynamicFixed (bw/fl)' })
    .option('deploy_model', { type: 'string', describe: 'input deploy prototxt (FP32)' })
    .option('weights', { type: 'string', describe: 'FP32 caffemodel' })
    .option('quantized_deploy_model', { type: 'string', describe: 'output prototxt with precision_param blocks (- = stdout)' })
    .option('bitwidths', { type: 'string', default: '6,6,6', describe: 'bitwidths of input, params, output (6 or 8)' })
    .option('fl_bitwidths', { type: 'string', default: '2,5,2', describe: 'DynamicFixed fractional lengths of input, params, output, or "auto"' })
    .option('calibration_directory', { type: 'string', describe: 'directory of calibration images, or of .npy net inputs (C,H,W or N,C,H,W each, no preprocessing); files sorted by name' })
    .option('calibration_size', { type: 'number', default: 8, describe: 'number of calibration images' })
    .option('calibration_seed', { type: 'number', default: 0, describe: 'seed of the (deterministic) image choice' })
    .option('calibration_indices', { type: 'string', describe: 'comma list of image indices to use first' })
    .option('th_method', { type: 'string', describe: `activation threshold method: ${THRESHOLD_METHODS.join('|')}; default kl (mse for the DynamicFixed rescale of --optimized_weights)` })
    .option('th_search', { type: 'string', describe: `Xilinx: choose each activation threshold among the --th_method candidates (${THRESHOLD_METHODS.join(', ')}) by the error of the layers that read it (layer) or of the net's outputs (net); group: lower each shared Concat/Eltwise threshold by the factor (1 to 0.5) that minimises the net-output error; simulated on the first --th_search_images calibration images` })
    .option('th_search_images', { type: 'number', describe: 'calibration images the threshold search measures on (default 32)' })
    .option('pow2', { type: 'boolean', default: false, describe: 'snap thresholds to (2^(bw-1)-1)·2^k' })
    .option('save_stats', {
      type: 'string',
      describe: 'write the calibration statistics (JSON, mergeable); alone (no output model): pass 1 only, or with --stats PASS1 the exact pass only — for sharded KL',
    })
    .option('stats', { type: 'string', describe: 'quantize from a statistics file instead of images' })
    .option('allow_nonfinite', { type: 'boolean', default: false, describe: 'go on when weights or activations hold NaN/Inf (warned; calibration skips those values)' })
    .option('strict', { type: 'boolean', default: false, describe: 'negative fl or mixed bitwidths are errors' })
    .option('mnist', { type: 'string', describe: 'calibrate from an MNIST idx3 image file' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no summary table' })
    .option('threads', { type: 'number', describe: 'threads to use (default: CHAIQ_THREADS, else os.availableParallelism()); many calibration images run on worker threads' })
    .option('optimized_weights', {
      type: 'string',
      describe: 'rewrite the model so CHaiDNN quantizes it better and write its weights to FILE.caffemodel: BatchNorm/Scale folded into the convolutions (DynamicFixed auto: also power-of-two rescaling so no fl is negative); the output prototxt goes with these weights',
    })
    .option('equalize', { type: 'boolean', default: false, describe: 'with --optimized_weights: cross-layer equalization (Nagel et al. 2019) of conv → (ReLU) → conv pairs before calibration, function-preserving' })
    .option('bias_correction', { type: 'boolean', default: false, describe: 'with --optimized_weights: remove each conv\'s mean output error on the calibration images from its bias, layer by layer with the quantized layers before it (IBC)' })
    .option('optimize_rounding', { type: 'boolean', default: false, describe: 'with --optimized_weights: round each conv weight up or down to minimise the layer\'s output error on the calibration images, with the quantized layers before it (AdaRound\'s asymmetric objective, greedy), on the grid of the written th_params/fl_params' })
    .option('df_input', { type: 'string', describe: 'DynamicFixed, --fl_bitwidths auto: dynamicfixed (default), or xilinx: the convolutions that read the net input run in Xilinx mode (input at th_layer_in, th_layer_out on the next layers\' fl grid), so the image reader does not clip the input at fl >= 0' })
    .option('output_json', { type: 'string', describe: 'also write the ML-Suite quantizer\'s JSON (thresholds, scale factors and xDNN multipliers of the convolutions) to FILE.json' })
    .option('report', { type: 'string', describe: 'also write an HTML report (histograms with thresholds, weight ranges) to FILE.html' })
    .epilog(thresholdSourceHelp());
}

export const quantizeCommand: CommandModule<{}, QuantizeArgs> = {
  command: 'quantize',
  describe: 'write precision_param blocks (XportDNN-compatible flags)',
  builder: (y: any) => builder(y),
  handler: async (args) => {
    await writeAllOrNone(() => runQuantize(args));
  },
};

/** The xportdnn binary: quantize with XportDNN's own calibration by default. */
export const xportdnnCommand: CommandModule<{}, QuantizeArgs> = {
  ...quantizeCommand,
  builder: (y: any) => builder(y, 'progressive'),
  handler: async (args) => {
    await writeAllOrNone(() => runQuantize(args, warnToStderr, 'progressive'));
  },
};

interface MergeArgs {
  files: string[];
  o: string;
}

export const mergeStatsCommand: CommandModule<{}, MergeArgs> = {
  command: 'merge-stats <files..>',
  describe: 'merge calibration statistics files (shards) into one',
  builder: (y: any) =>
    y.positional('files', { type: 'string', array: true }).option('o', { alias: 'output', type: 'string', demandOption: true, describe: 'output stats file' }),
  handler: async (args) => {
    checkInputPaths(args.files.map((f) => ({ flag: 'merge-stats', path: f })));
    checkOutputPaths([{ flag: '-o', path: args.o }], args.files.map((f) => ({ flag: 'an input', path: f })));
    const merged = mergeStats(args.files);
    await writeAllOrNone(() => saveStats(args.o, merged));
  },
};
