import * as fs from 'fs';
import { writeFileAtomic } from '../../io/atomic';
import { checkInputPaths, checkOutputPaths, writeAllOrNone } from '../../io/outputs';
import { calibrationKind, chooseIndices, selectCalibrationFiles } from '../../io/calibset';
import { loadMnist } from '../../io/mnist';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { ChaiqError, warnToStderr } from '../../errors';
import type { WarnFn } from '../../errors';
import type { Net } from '../../graph/types';
import type { Tensor } from '../../tensor';
import type { Preprocess } from '../../io/images';
import { XPORTDNN_PREPROCESS } from '../../io/images';
import { boardInputWarning, boardMeanWarning, boardScale, buildPreprocess, loadInputImage, loadModelWithDims, openMnist, parseList, preprocessOptions } from '../preprocess';
import type { PreprocessArgs } from '../preprocess';
import { inputHeaderLine, loadNpyCalibration, parseInputShape, warnImageFlagsIgnored } from '../inputs';
import { StatsCollector, loadStats, mergeStats, saveStats } from '../../calib/stats';
import { THRESHOLD_METHODS } from '../../calib/threshold';
import { thresholdSourceHelp, thresholdSourceLegend } from '../threshold-legend';
import type { ThresholdMethod } from '../../calib/threshold';
import { chooseFl } from '../../calib/fl';
import { collectStats, thresholdsFromStats, versionStats } from '../../quant/calibrate';
import { buildXilinxPlan } from '../../quant/xilinx';
import { CALIBRATION_MODES, progressiveThresholds, stackBatch } from '../../quant/progressive';
import { xdnnJson } from '../../print/xdnn-json';
import type { CalibrationMode } from '../../quant/progressive';
import type { Bitwidths } from '../../quant/xilinx';
import { buildDynamicFixedPlan, uniformFlMismatch } from '../../quant/dynamicfixed';
import type { FlTriple } from '../../quant/dynamicfixed';
import { checkInvariants } from '../../quant/invariants';
import { applyPlan, applyPlanToNetParam } from '../../print/precision';
import { parsePrototxt } from '../../../grammar';
import { foldBatchNormOffline, foldInputScale, gridFactors, recenterInput, rescaleActivations } from '../../quant/rewrite';
import type { Rewritten } from '../../quant/rewrite';
import { writeCaffemodel } from '../../proto/write-caffemodel';
import { checkFiniteWeights } from '../../graph/finite';
import { inputClipWarning, measureInputClip } from '../../sim/input-range';
import { buildNet } from '../../graph/build';
import type { NetParam } from '../../proto/message';
import { printMessage } from '../../print/format';
import { formatPy2Float } from '../../io/floatfmt';
import type { PrecisionPlan } from '../../quant/plan';
import { makeProgress, NO_PROGRESS } from '../progress';
import { deployOfTrainTest, printDeployNet, setInputTransform, transformOf, withTransformDefaults } from '../traintest';
import { deployNote } from '../../graph/deploy';
import { renderReport } from '../../report/html';
import { quantizeReportData } from '../../report/build';

interface QuantizeArgs extends PreprocessArgs {
  allow_nonfinite?: boolean;
  quant_type: string;
  deploy_model?: string;
  weights?: string;
  quantized_deploy_model?: string;
  bitwidths: string;
  fl_bitwidths: string;
  calibration_directory?: string;
  calibration_size: number;
  calibration_seed: number;
  calibration_indices?: string;
  th_method?: string;
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
  if (needCalib && !args.stats && !args.calibration_directory && !args.mnist)
    throw usage('Xilinx mode (and --fl_bitwidths auto) need --calibration_directory DIR, --mnist FILE or --stats FILE');
  if (args.optimized_weights) {
    if (!args.weights) throw usage('--optimized_weights needs --weights FILE.caffemodel');
    if (args.stats) throw usage('--optimized_weights needs calibration images: statistics of the original net do not describe the rewritten one');
    if (!args.quantized_deploy_model) throw usage('--optimized_weights needs --quantized_deploy_model FILE (the prototxt that goes with the new weights)');
  }
  const given = args.calibration_indices ? parseList(args.calibration_indices, 'calibration_indices') : [];
  const size = args.calibration_size;
  if (!Number.isInteger(size) || size < 1) throw usage(`--calibration_size must be a positive integer, got ${size}`);
  if (given.length > size) throw usage(`--calibration_indices lists ${given.length} images but --calibration_size is ${size}`);
  checkInputPaths([
    { flag: '--deploy_model', path: args.deploy_model },
    { flag: '--weights', path: args.weights },
    { flag: '--stats', path: args.stats },
    { flag: '--mnist', path: args.mnist },
    { flag: '--mean_file', path: args.mean_file },
    { flag: '--calibration_directory', path: args.calibration_directory, dir: true },
  ]);
  checkOutputPaths(
    [
      { flag: '--quantized_deploy_model', path: args.quantized_deploy_model },
      { flag: '--optimized_weights', path: args.optimized_weights },
      { flag: '--save_stats', path: args.save_stats },
      { flag: '--report', path: args.report },
      { flag: '--output_json', path: args.output_json },
    ],
    [
      { flag: '--deploy_model', path: args.deploy_model },
      { flag: '--weights', path: args.weights },
      { flag: '--stats', path: args.stats },
      { flag: '--mnist', path: args.mnist },
      { flag: '--mean_file', path: args.mean_file },
    ],
  );
}

function table(rows: string[][]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(w[c]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** The executable net of a rewritten model. */
function rebuild(r: Rewritten, deploy: string, dims: number[] | undefined, warn: WarnFn): { net: Net; netParam: NetParam } {
  const net = buildNet(r.net, { file: deploy, weights: r.weights, warn, ...(dims ? { inputShape: [1, ...dims] } : {}) });
  return { net, netParam: r.net };
}

function inputDims(net: Net, deploy: string): number[] {
  if (net.inputs.length !== 1)
    throw new ChaiqError(`the net has ${net.inputs.length} inputs; CHaiDNN (and XportDNN) need exactly one`, { file: deploy });
  return net.inputs[0].shape;
}

async function loadCalibration(args: QuantizeArgs, pre: Preprocess): Promise<Tensor[]> {
  // size and indices were checked by checkQuantizeUsage
  const given = args.calibration_indices ? parseList(args.calibration_indices, 'calibration_indices') : [];
  const size = args.calibration_size;
  if (args.mnist) {
    const m = openMnist(args.mnist, pre);
    if (size > m.count) throw new ChaiqError(`--calibration_size ${size} is larger than the ${m.count} images in the file (XportDNN fails here too: it draws without replacement)`, { file: args.mnist });
    return chooseIndices(m.count, size, args.calibration_seed, given, args.mnist).map((k) => m.tensor(k));
  }
  if (!args.calibration_directory) throw usage('Xilinx mode (and --fl_bitwidths auto) need --calibration_directory DIR, --mnist FILE or --stats FILE');
  const dir = args.calibration_directory;
  const listing = calibrationKind(dir, true);
  if (listing.kind === 'npy') return loadNpyCalibration(dir, listing.files.map((f) => path.join(dir, f)), { size, seed: args.calibration_seed, indices: given, dims: pre.dims });
  // images of DIR and of its sub-directories (a class-per-folder set such as digits/<label>/), sorted
  const chosen = selectCalibrationFiles(dir, { size, seed: args.calibration_seed, indices: given, recursive: true });
  const out: Tensor[] = [];
  for (const f of chosen) out.push(await loadInputImage(f, pre));
  return out;
}

/** What a quantize run produced (for the report and the demo). */
export interface QuantizeResult {
  net: Net;
  plan?: PrecisionPlan;
  stats?: StatsCollector;
  mode: 'Xilinx' | 'DynamicFixed';
  /** the annotated prototxt text */
  text?: string;
  /** the input the written net expects, when --optimized_weights changed it (scale folded, mean recentred) */
  input?: { rawScale: number; mean: number[]; inputScale: number };
}

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

/** Thresholds from progressive calibration over all images as one batch, with a per-layer progress bar. */
async function runProgressive(net: Net, images: Tensor[], opts: Parameters<typeof progressiveThresholds>[2], quiet: boolean) {
  const bar = quiet ? NO_PROGRESS : makeProgress(net.layers.length, 'calibrating (progressive)', 'layers');
  try {
    const r = await progressiveThresholds(net, stackBatch(images), { ...opts, onProgress: () => bar.tick(1) });
    return { thOf: r.thOf, report: { method: r.method } };
  } finally {
    bar.stop();
  }
}

export async function runQuantize(args: QuantizeArgs, warn: WarnFn = warnToStderr, defaultCalibration: CalibrationMode = 'float'): Promise<QuantizeResult> {
  const qt = args.quant_type.replace(/^["']|["']$/g, '');
  if (qt !== 'Xilinx' && qt !== 'DynamicFixed') throw usage(`--quant_type must be "Xilinx" or "DynamicFixed", got '${args.quant_type}'`);
  if (!args.deploy_model) throw usage('missing --deploy_model FILE');
  if (!args.quantized_deploy_model && !args.save_stats) throw usage('missing --quantized_deploy_model FILE (the output), or --save_stats FILE alone to only collect statistics');
  // KL is XportDNN's; the DynamicFixed rescale (--optimized_weights) matches its MSE fl choice
  const method = (args.th_method ?? (args.optimized_weights && qt === 'DynamicFixed' ? 'mse' : 'kl')) as ThresholdMethod;
  if (!THRESHOLD_METHODS.includes(method)) throw usage(`--th_method must be one of ${THRESHOLD_METHODS.join(', ')}, got '${args.th_method}'`);
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
  const progressive = calibrationMode(args, qt, defaultCalibration) === 'progressive';
  if (needCalib && !args.weights) throw usage(`${qt === 'Xilinx' ? 'Xilinx mode' : '--fl_bitwidths auto'} needs --weights FILE.caffemodel`);
  if (args.output_json && qt !== 'Xilinx') throw usage('--output_json holds Xilinx-mode thresholds; it needs --quant_type Xilinx');
  checkQuantizeUsage(args, needCalib);

  parseBitwidths(args.bitwidths, warn, args.strict);
  const deploy = args.deploy_model;
  // --dims is checked against the declared input shape (Input layer / input_dim) before the net is built
  const inputShape = parseInputShape(args.input_shape, { batchOne: true });
  const { model: m, dims: given } = loadModelWithDims(deploy, args.weights, args.dims, { warn, inputShape });
  checkFiniteWeights(m.graph, args.weights, { allow: !!args.allow_nonfinite, warn, flag: '--allow_nonfinite' });
  let dims = given;
  let net = m.graph;
  let netParam = m.net;
  // a train/test net: its TEST phase as the deploy net CHaiDNN runs (the data layer an Input, no losses)
  const trainTest = deployOfTrainTest(m, deploy, given, warn);
  if (trainTest) ({ net, netParam } = trainTest);
  // a batch other than 1 is rewritten to 1 by the printer (with its own warning)
  if (!netParam.layer.some((l) => l.type === 'Input')) warn('XportDNN expects the input as an Input layer (CHaiDNN takes the first layer\'s th_layer_in)', { file: deploy });
  const shape = inputDims(net, deploy);
  if (!dims) {
    if (shape.length !== 4 || shape.some((x) => !(x > 0)))
      throw new ChaiqError(`the net input has shape (${shape.map((x) => (x > 0 ? x : '?')).join(',')}); give --dims C,H,W`, { file: deploy }, 2);
    dims = [shape[1], shape[2], shape[3]];
  }

  const info = (msg: string) => {
    if (!args.quiet) process.stderr.write(`chaiq: ${msg}\n`);
  };
  const optimize = args.optimized_weights;
  if (optimize) {
    // its flag combinations were checked by checkQuantizeUsage
    const f = foldBatchNormOffline(net, netParam);
    if (f.folded.length) {
      ({ net, netParam } = rebuild(f, deploy, given, warn));
      info(`folded ${f.folded.reduce((a, c) => a + c.folded.length, 0)} BatchNorm/Scale layers into ${f.folded.length} convolutions`);
    }
  }

  let stats: StatsCollector | undefined;
  const statsOnly = !args.quantized_deploy_model && !!args.save_stats;
  // built only where images are read (uniform DynamicFixed or --stats read none: the defaults need not fit the net)
  // .npy calibration data is the net input as it is: no image preprocessing
  const npyCalib = needCalib && !args.mnist && !!args.calibration_directory && calibrationKind(args.calibration_directory, true).kind === 'npy';
  if (npyCalib) warnImageFlagsIgnored(args, warn, 'the calibration directory\'s .npy data');
  const readsImages = needCalib && !npyCalib && !!(args.calibration_directory || args.mnist);
  // a train/test net's data layer (transform_param) gives the defaults
  const pargs = readsImages ? withTransformDefaults(args, m.net, deploy, warn) : args;
  const userPre = readsImages ? buildPreprocess(pargs, dims!, { mnist: !!args.mnist }) : { ...XPORTDNN_PREPROCESS, dims: dims! };
  /** what the net's input is: the user's preprocessing, or the board's after the input scale is folded */
  let netPre = userPre;
  if (optimize && boardScale(userPre) !== 1 && readsImages) {
    const f = foldInputScale(net, netParam, boardScale(userPre));
    if (f) {
      ({ net, netParam } = rebuild(f, deploy, given, warn));
      const k = 255 / userPre.rawScale;
      // per-channel values stay a plain array (a Float32Array is read as a mean image)
      const mean = Array.isArray(userPre.mean) ? userPre.mean.map((m) => m * k) : Float32Array.from(userPre.mean, (m) => m * k);
      netPre = { ...userPre, rawScale: 255, inputScale: 1, mean };
      info(`folded the input scale ${formatPy2Float(boardScale(userPre))} into the first layers: the net now takes pixels (0..255) minus the mean, as CHaiDNN's image reader feeds it`);
    } else {
      warn(boardInputWarning(userPre, 'the scale cannot be folded here (the input feeds a layer that does not scale); feed the input scaled yourself')!, { file: deploy });
    }
  } else if (readsImages) {
    const w = boardInputWarning(userPre, 'feed the input scaled yourself, or fold the scale into the first layers with --optimized_weights');
    if (w) warn(w, { file: deploy });
  }
  if (readsImages) {
    const w = boardMeanWarning(userPre);
    if (w) warn(w, { file: deploy });
  }
  // pixels minus a per-channel mean span up to 0..255: recentred on 127 they fill the signed 8-bit range
  // (fl 0 / th 127, only 255 clips, by 1) instead of saturating; the first layers' biases take the difference back
  const C = dims![0];
  // per-channel means only: CHaiDNN's reader subtracts one value per channel (a mean image is not recentred)
  const perChannel = Array.isArray(netPre.mean);
  if (optimize && readsImages && boardScale(netPre) === 1 && perChannel && Array.from(netPre.mean).some((m) => m !== 127)) {
    const mean = netPre.mean.length === 1 ? new Array(C).fill(netPre.mean[0]) : Array.from(netPre.mean);
    const r = recenterInput(net, netParam, mean.map((m) => 127 - m));
    if (r) {
      ({ net, netParam } = rebuild(r, deploy, given, warn));
      netPre = { ...netPre, mean: new Array(C).fill(127) };
      info('recentred the input on 127 (pixels − 127 fill the signed 8-bit range); the first layers\' biases absorb the change of mean');
    }
  }
  const calibrate = async (net: Net, given?: StatsCollector): Promise<StatsCollector> => {
    const pre = netPre;
    const images = await loadCalibration(args, pre);
    const pass1Only = statsOnly && !given;
    const passes = method === 'kl' && !pass1Only && !given ? 2 : 1;
    const bar = args.quiet ? NO_PROGRESS : makeProgress(images.length * passes, 'calibrating');
    try {
      return await collectStats(net, images, {
        method,
        warn,
        stats: given,
        pass1Only,
        allowNonFinite: !!args.allow_nonfinite,
        // a mean image is recorded by its file name, not its C·H·W values
        settings: { bw: bw.out, calibration: npyCalib ? { dims: dims!, input: 'npy', deploy: path.basename(args.deploy_model!) } : { dims: dims!, raw_scale: pre.rawScale, ...(pargs.mean_file !== undefined ? { mean_file: path.basename(pargs.mean_file) } : { mean: pre.mean }), input_scale: pre.inputScale, deploy: path.basename(args.deploy_model!) } },
        onProgress: (d) => bar.tick(d),
      });
    } catch (e) {
      // bad values in the activations come from the weights (or the net): name the file
      if (e instanceof ChaiqError && !e.loc.file) e.loc = { file: args.weights ?? deploy };
      throw e;
    } finally {
      bar.stop();
    }
  };
  if (needCalib && !progressive) {
    const given = args.stats ? loadStats(args.stats) : undefined;
    const haveImages = !!(args.calibration_directory || args.mnist);
    // pass-1 statistics + images: run the exact (KL) pass; otherwise the file is used as it is
    if (given && !(haveImages && given.currentPass === 1 && method === 'kl')) stats = given;
    else stats = await calibrate(net, given);
    if (args.save_stats) {
      saveStats(args.save_stats, stats);
    }
    if (statsOnly) return { net, stats, mode: qt as QuantizeResult['mode'] };
  }
  if (optimize && qt === 'DynamicFixed' && flAuto) {
    // scale each activation group so its calibrated threshold T lands on the DynamicFixed grid,
    // T·f = (2^(bw-1)-1)·2^-fl with fl >= 0 (CHaiDNN rejects negative fl), then calibrate again
    const { thOf } = thresholdsFromStats(net, stats!, method, bw.out, warn);
    const xp = buildXilinxPlan(net, thOf, { bitwidths: bw, pow2: false, warn: () => undefined }).plan;
    const factor = gridFactors(net, xp, bw.out);
    const r = rescaleActivations(net, netParam, (v) => factor.get(v) ?? 1);
    if (r.rescaled.length) {
      ({ net, netParam } = rebuild(r, deploy, given, warn));
      const fa = r.rescaled.map((x) => x.factor);
      info(`rescaled the outputs of ${fa.length} layers (factors ${formatPy2Float(Math.min(...fa))} to ${formatPy2Float(Math.max(...fa))}) onto the fixed-point grid`);
      stats = await calibrate(net);
    }
  }

  let plan;
  const summary: string[][] = [];
  if (qt === 'Xilinx') {
    const { thOf, report } = progressive
      ? await runProgressive(net, await loadCalibration(args, netPre), { bitwidths: bw, method, pow2: args.pow2, warn }, args.quiet)
      : thresholdsFromStats(net, stats!, method, bw.out, warn);
    const r = buildXilinxPlan(net, thOf, { bitwidths: bw, pow2: args.pow2, warn });
    plan = r.plan;
    summary.push(['layer', 'type', 'th_in', 'th_out', 'method']);
    for (const row of r.rows) {
      if (!plan.has(row.layer)) continue;
      const l = net.layers.find((x) => x.name === row.layer)!;
      const key = l.tops.length ? `${l.tops[0]}@${l.name}` : '';
      const how = row.source === 'calib' ? report.method.get(key) ?? method : row.source;
      summary.push([row.layer, row.type, row.thIn !== undefined ? formatPy2Float(row.thIn) : '-', row.thOut !== undefined ? formatPy2Float(row.thOut) : '-', how + (args.pow2 ? '+pow2' : '')]);
    }
  } else {
    const r = buildDynamicFixedPlan(net, {
      bitwidths: bw,
      fl: flAuto ? 'auto' : flUniform!,
      actFl: flAuto ? (li, ti) => chooseFl(versionStats(net, stats!, li, ti), bw.out, { kind: 'activations' }).fl : undefined,
      weightFl: flAuto ? (d, b) => chooseFl(d, b, { kind: 'weights' }).fl : undefined,
      strict: args.strict,
      warn,
    });
    plan = r.plan;
    if (!flAuto && (args.calibration_directory || args.mnist)) {
      // XportDNN's fl are chosen without data: where images are given, say how much of the input they clip
      const clip = inputClipWarning(measureInputClip(net, plan, await loadCalibration(args, buildPreprocess(args, dims!, { mnist: !!args.mnist }))));
      if (clip) warn(clip, { file: deploy });
    }
    summary.push(['layer', 'type', 'fl_in', 'fl_out', 'fl_params']);
    for (const row of r.rows) summary.push([row.layer, row.type, String(row.flIn ?? '-'), String(row.flOut ?? '-'), String(row.flParams ?? '-')]);
  }
  // a mismatched uniform fl was asked for (and warned about): only the other invariants are the plan's
  const bad = checkInvariants(net, plan).filter((v) => v.severity === 'error' && !(flMismatch && v.kind === 'fl'));
  if (bad.length) throw new ChaiqError(`internal: the plan breaks a CHaiDNN invariant: ${bad[0].message}`, { file: args.deploy_model }, 70);

  let text: string;
  // the converted net's Input says the preprocessing calibrated with (simulate takes it as its default)
  if (trainTest && readsImages) netParam = setInputTransform(netParam, transformOf(netPre, args.mean_file ?? trainTest.transform?.mean_file));
  const converted = trainTest ? deployNote(trainTest.conversion, path.basename(deploy)) : '';
  if (optimize) {
    // layers left the net: print it canonically, then splice the blocks in like any V2 file
    warn('with --optimized_weights the rewritten net is printed canonically (comments and layout of the input are not kept)', { file: deploy });
    text = applyPlan(parsePrototxt(printMessage('caffe.NetParameter', applyPlanToNetParam(netParam, new Map())), deploy), plan, { warn, inputShape });
    // the weights were rewritten too: the original caffemodel no longer fits this net
    // what the rewritten net takes, when it is what CHaiDNN's reader feeds (simulate and forward read it back)
    const inputNote = readsImages && boardScale(netPre) === 1 ? inputHeaderLine(netPre, 255 / userPre.rawScale) + '\n' : '';
    text = `# rewritten by chaiq quantize --optimized_weights: use with the weights in ${path.basename(optimize)}\n${inputNote}${converted}${text}`;
  } else if (trainTest) {
    text = converted + printDeployNet(netParam, plan, deploy, warn, inputShape);
  } else {
    text = applyPlan(m.doc, plan, { warn, inputShape, upgraded: { net: m.net, printMessage: (t, msg) => printMessage(t === 'NetParameter' ? 'caffe.NetParameter' : t, msg) } });
  }
  const out = args.quantized_deploy_model!;
  // the weights first: a prototxt never names layers its caffemodel lacks
  if (optimize) writeCaffemodel(optimize, netParam.name ?? net.name ?? '', net.layers.map((l) => ({ name: l.name, type: l.type, blobs: l.blobs })));
  if (out === '-') process.stdout.write(text);
  else {
    try {
      writeAtomic(out, text);
    } catch (e) {
      // no half result: weights without their prototxt are removed again
      if (optimize) fs.rmSync(optimize, { force: true });
      throw e;
    }
  }
  if (args.output_json) {
    writeAtomic(args.output_json, xdnnJson(net, plan));
  }
  if (args.report) writeAtomic(args.report, renderReport(quantizeReportData(net, plan, stats, {
    mode: qt, title: `${path.basename(deploy)} — ${qt} ${bw.out}-bit`,
    summary: [['bitwidths', `${bw.in},${bw.params},${bw.out}`], ...(stats ? [['th_method', qt === 'Xilinx' ? method + (args.pow2 ? '+pow2' : '') : 'fl auto'] as [string, string]] : [])],
  })));
  if (!args.quiet && summary.length > 1) {
    const legend = qt === 'Xilinx' ? thresholdSourceLegend(summary.slice(1).map((r) => r[4])) : '';
    (out === '-' ? process.stderr : process.stdout).write(table(summary) + legend);
  }
  const input = netPre !== userPre ? { rawScale: netPre.rawScale, mean: Array.from(netPre.mean), inputScale: netPre.inputScale } : undefined;
  return { net, plan, stats, mode: qt as QuantizeResult['mode'], text, input };
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
    .option('optimized_weights', {
      type: 'string',
      describe: 'rewrite the model so CHaiDNN quantizes it better and write its weights to FILE.caffemodel: BatchNorm/Scale folded into the convolutions (DynamicFixed auto: also power-of-two rescaling so no fl is negative); the output prototxt goes with these weights',
    })
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
