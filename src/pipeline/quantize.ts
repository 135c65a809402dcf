/**
 * Quantize as a sequence of the pipeline's stages: load → (rewrite for the board) → calibrate → plan → check →
 * print. Typed options in, texts and bytes out: the caller (the CLI, the demo, a library user) writes the files.
 */
import { OptionError } from '../errors';
import type { WarnFn } from '../errors';
import type { Net } from '../graph/types';
import { XPORTDNN_PREPROCESS } from '../io/images';
import type { Preprocess } from '../io/images';
import type { CalibrationMode } from '../quant/progressive';
import type { StatsCollector } from '../calib/stats';
import type { ThresholdMethod } from '../calib/threshold';
import type { NetParam } from '../proto/message';
import { uniformFlMismatch } from '../quant/dynamicfixed';
import type { FlTriple } from '../quant/dynamicfixed';
import type { PrecisionPlan } from '../quant/plan';
import type { Bitwidths } from '../quant/xilinx';
import { inputClipWarning, measureInputClip } from '../sim/input-range';
import { boardInputWarning, boardMeanWarning, boardScale } from './board';
import { calibrateStats, calibrationSettings, progressiveCalibration, thresholdsOf } from './calibrate';
import { assertPlanValid } from './check';
import { setInputTransform, transformOf } from './deploy';
import { inputHeaderLine } from './header';
import { loadNet, singleInputShape } from './load';
import type { LoadedNet } from './load';
import { planDynamicFixed, planXilinx } from './plan';
import type { PlanResult } from './plan';
import { printCaffemodel, printPrecisionPrototxt } from './print';
import { foldBatchNormForBoard, foldInputScaleForBoard, rebuild, recenterInputForBoard, rescaleOntoGrid } from './rewrite';
import { biasCorrectionStage, equalizeStage, roundingStage } from '../recover/techniques';
import type { Tensor } from '../tensor';
import type { NetWithParam, RebuildContext } from './rewrite';
import type { CalibrationInputs, PreprocessSpec, QuantMode, Reporter, ResolvedPreprocess } from './types';
import { apiOptionName, noProgress } from './types';
import { isInputLayer } from '../layers/registry';
import type { ThresholdSearch } from '../recover/threshold-search';
import { thresholdSearchPlan } from './threshold-search';
import type { DfInputMode } from '../quant/xilinx-input';
import { checkDfInputOption, xilinxInputStage } from './df-input';

/** What to quantize and how. Only `mode`, `deploy` and `bitwidths` are required. */
export interface QuantizeOptions extends Reporter {
  /** Xilinx (thresholds from calibration) or DynamicFixed (bw/fl) */
  mode: QuantMode;
  /** the FP32 prototxt (deploy or train/test) */
  deploy: string;
  /** the FP32 caffemodel (Xilinx mode and DynamicFixed auto need it) */
  weights?: string;
  /** input, params, output: 6 or 8 each */
  bitwidths: Bitwidths;
  /** DynamicFixed: one fl triple on every layer (XportDNN's), or 'auto' (from data; the default) */
  fl?: FlTriple | 'auto';
  /** activation threshold method; default kl (mse for the DynamicFixed board rewrite) */
  thMethod?: ThresholdMethod;
  /** float (statistics of the float net, the default) or progressive (XportDNN's, Xilinx mode) */
  calibration?: CalibrationMode;
  /** thresholds snapped to (2^(bw-1)-1)·2^k */
  pow2?: boolean;
  /** negative fl and mixed bitwidths are errors */
  strict?: boolean;
  /** go on with NaN/Inf weights or activations (warned) */
  allowNonfinite?: boolean;
  /** cross-layer equalization after the BatchNorm fold (needs forBoard) */
  equalize?: boolean;
  /** weight rounding chosen on the calibration images (needs forBoard) */
  optimizeRounding?: boolean;
  /** iterative bias correction on the calibration images (needs forBoard) */
  biasCorrection?: boolean;
  /** DynamicFixed auto: the layers reading the net input in Xilinx mode, so the image reader does not clip it at fl >= 0 */
  dfInput?: DfInputMode;
  /** Xilinx: choose each activation threshold among the methods' candidates by the next layers' or the net's output error */
  thSearch?: ThresholdSearch;
  /** how many of the calibration images the threshold search measures on (default 32, the first ones) */
  thSearchImages?: number;
  /** seed of the rounding's patch sampling (default 0) */
  seed?: number;
  /** threads for calibration (default: the kernels' count); many images run on worker threads, same statistics */
  threads?: number;
  /** C,H,W of the input, checked against the Input layer */
  dims?: readonly number[];
  /** N,C,H,W the net runs at (the output declares it) */
  inputShape?: number[];
  /** the calibration inputs (see calibrationFromDirectory and the others in pipeline/inputs) */
  inputs?: CalibrationInputs;
  /** the preprocessing of calibration images (default XportDNN's: BGR 0..255 minus 104,117,123) */
  preprocess?: PreprocessSpec;
  /** statistics to quantize from (pass-1 statistics with images: the exact KL pass is run); a function is called when they are needed */
  stats?: StatsCollector | (() => StatsCollector);
  /** stop after calibration: only the statistics are wanted */
  statsOnly?: boolean;
  /** sees the statistics of the float net as calibrated (before a DynamicFixed board rescale calibrates again) */
  onStats?: (stats: StatsCollector) => void;
  /**
   * Rewrite the model for the board (BatchNorm/Scale folded, input scale folded, input recentred, DynamicFixed
   * rescale); `weightsName` is the caffemodel the prototxt's header names (the result's `caffemodel`).
   */
  forBoard?: { weightsName: string };
}

/** What a quantize run produced. */
export interface QuantizeResult {
  mode: QuantMode;
  /** the net the plan is for (the rewritten one for the board) */
  net: Net;
  netParam: NetParam;
  plan?: PrecisionPlan;
  stats?: StatsCollector;
  /** the threshold method used (Xilinx and DynamicFixed auto) */
  thMethod: ThresholdMethod;
  /** the annotated prototxt text */
  text?: string;
  /** the rewritten weights (forBoard) */
  caffemodel?: Uint8Array;
  /** the summary table: a header row, then one row per layer */
  summary?: string[][];
  /** the input the written net expects, when the board rewrite changed it (scale folded, mean recentred) */
  input?: { rawScale: number; mean: number[]; inputScale: number };
}

/** Quantize a model: see QuantizeOptions. Throws ChaiqError (OptionError for a bad option) on bad input. */
export async function quantize(o: QuantizeOptions): Promise<QuantizeResult> {
  const s = startQuantize(o);
  checkDfInputOption(o.dfInput, o.mode, s.flAuto);
  for (const t of ['equalize', 'optimizeRounding', 'biasCorrection'] as const)
    if (o[t] && !o.forBoard) throw new OptionError(`{${t}} rewrites the weights: it needs {forBoard}`);
  if (o.thSearch && (o.mode !== 'Xilinx' || o.calibration === 'progressive' || !o.inputs))
    throw new OptionError(`{thSearch} chooses Xilinx thresholds from statistics of the float net on calibration images: it needs Xilinx mode, float calibration and {inputs}`);
  const loaded = loadForQuantize(o, s);
  const rebuildCtx: RebuildContext = { deploy: o.deploy, dims: loaded.dims, warn: s.warn, source: loaded.netParam };
  let m: NetWithParam = { net: loaded.net, netParam: loaded.netParam };
  if (o.forBoard) m = foldBatchNormForBoard(m, rebuildCtx, s.info);
  if (o.forBoard && o.equalize) m = equalizeStage(m.net, m.netParam, (r) => rebuild(r, rebuildCtx), { info: s.info, warn: s.warn, flag: s.name('equalize'), file: o.deploy });
  const input = resolveInput(o, s, loaded);
  const board = o.forBoard && input.readsImages ? boardInput(m, input.pre, rebuildCtx, s) : { m, pre: input.pre };
  if (!o.forBoard) warnBoardInput(input, o.deploy, s, `feed the input scaled yourself, or fold the scale into the first layers with ${s.name('optimizedWeights')}`);
  else if (input.readsImages) warnBoardInput(input, o.deploy, s, undefined);
  m = board.m;
  const netPre = board.pre;
  const calibrate = (net: Net, given?: StatsCollector) => calibrateFor(o, s, input, net, netPre, given);

  let stats: StatsCollector | undefined;
  if (s.needCalib && !s.progressive) {
    const haveImages = !!o.inputs;
    // pass-1 statistics + images: run the exact (KL) pass; otherwise the statistics are used as they are
    const given = typeof o.stats === 'function' ? o.stats() : o.stats;
    if (given && !(haveImages && given.currentPass === 1 && s.method === 'kl')) stats = given;
    else stats = await calibrate(m.net, given);
    o.onStats?.(stats);
    if (o.statsOnly) return { mode: o.mode, net: m.net, netParam: m.netParam, stats, thMethod: s.method };
  }
  if (o.forBoard && o.mode === 'DynamicFixed' && s.flAuto) {
    const r = rescaleOntoGrid(m, thresholdsOf(m.net, stats!, s.method, o.bitwidths.out, s.warn).thOf, o.bitwidths, rebuildCtx, s.info);
    if (r) {
      m = r;
      stats = await calibrate(m.net);
    }
  }

  let planned = await planFor(o, s, m.net, stats, netPre, loaded);
  if (o.thSearch) planned = await searchedPlan(o, s, m, stats!, await loadInputs(o, s, netPre));
  assertPlanValid(m.net, planned.plan, o.deploy, { acceptFlMismatch: s.flMismatch });
  if (o.forBoard) m = await recoverAccuracy(o, s, m, planned.plan, await loadInputs(o, s, netPre), rebuildCtx);

  // the converted net's Input says the preprocessing calibrated with (simulate takes it as its default)
  let netParam = m.netParam;
  const tt = loaded.trainTest;
  if (tt && input.readsImages) netParam = setInputTransform(netParam, transformOf(netPre, input.resolved?.meanFileGiven ? input.resolved.meanFile : tt.transform?.mean_file));
  // what the rewritten net takes, when it is what CHaiDNN's reader feeds (simulate and forward read it back)
  const inputLine = input.readsImages && boardScale(netPre) === 1 ? inputHeaderLine(netPre, 255 / input.pre.rawScale) : undefined;
  const text = printPrecisionPrototxt(loaded.model, netParam, planned.plan, {
    deploy: o.deploy, inputShape: o.inputShape, trainTest: tt, warn: s.warn, optionName: s.name,
    rewritten: o.forBoard ? { weightsName: o.forBoard.weightsName, inputLine } : undefined,
  });
  return {
    mode: o.mode, net: m.net, netParam, plan: planned.plan, stats, thMethod: s.method, text, summary: planned.summary,
    caffemodel: o.forBoard ? printCaffemodel(m.net, netParam) : undefined,
    input: netPre !== input.pre ? { rawScale: netPre.rawScale, mean: Array.from(netPre.mean), inputScale: netPre.inputScale } : undefined,
  };
}

/** --th_search on the first thSearchImages calibration images. */
async function searchedPlan(o: QuantizeOptions, s: RunSettings, m: NetWithParam, stats: StatsCollector, images: Tensor[]): Promise<PlanResult> {
  return thresholdSearchPlan(m.net, m.netParam, stats, images.slice(0, o.thSearchImages ?? 32), {
    objective: o.thSearch!, method: s.method, bitwidths: o.bitwidths, pow2: !!o.pow2, warn: s.warn, info: s.info, progress: o.progress,
  });
}

/** --optimize_rounding and --bias_correction (one sweep when both): both keep the plan and rewrite the weights. */
async function recoverAccuracy(o: QuantizeOptions, s: RunSettings, m: NetWithParam, plan: PrecisionPlan, images: Tensor[], ctx: RebuildContext): Promise<NetWithParam> {
  const progress = (n: number, label: string) => (o.progress ?? noProgress)(n, label, 'layers');
  let net = m.net;
  const joint = !!(o.optimizeRounding && o.biasCorrection);
  if (o.optimizeRounding) net = await roundingStage(net, m.netParam, plan, images, (r) => rebuild(r, ctx), { seed: o.seed ?? 0, warn: s.warn, info: s.info, progress, biasCorrection: joint });
  if (o.biasCorrection && !joint) net = await biasCorrectionStage(net, m.netParam, plan, images, (r) => rebuild(r, ctx), { warn: s.warn, info: s.info, progress, reference: m.net });
  return { net, netParam: m.netParam };
}

/** The run's settings derived from the options. */
interface RunSettings {
  warn: WarnFn;
  info: (msg: string) => void;
  name: (option: string) => string;
  method: ThresholdMethod;
  flAuto: boolean;
  flMismatch: boolean;
  needCalib: boolean;
  progressive: boolean;
}

function startQuantize(o: QuantizeOptions): RunSettings {
  const flAuto = o.mode === 'DynamicFixed' && (o.fl ?? 'auto') === 'auto';
  const fl = o.fl !== undefined && o.fl !== 'auto' ? o.fl : undefined;
  return {
    warn: o.warn ?? (() => undefined),
    info: o.info ?? (() => undefined),
    name: o.optionName ?? apiOptionName,
    // KL is XportDNN's; the DynamicFixed rescale (board rewrite) matches its MSE fl choice
    method: o.thMethod ?? (o.forBoard && o.mode === 'DynamicFixed' ? 'mse' : 'kl'),
    flAuto,
    flMismatch: o.mode === 'DynamicFixed' && !flAuto && !!fl && !!uniformFlMismatch(fl, `${fl.in},${fl.params},${fl.out}`),
    needCalib: o.mode === 'Xilinx' || flAuto,
    progressive: o.calibration === 'progressive',
  };
}

/** Load the model (train/test converted, weights checked) and settle the input's C,H,W. */
function loadForQuantize(o: QuantizeOptions, s: RunSettings): LoadedNet & { shapeDims: [number, number, number] } {
  const loaded = loadNet({ deploy: o.deploy, weights: o.weights, dims: o.dims, inputShape: o.inputShape, warn: s.warn, allowNonfinite: o.allowNonfinite, nonfiniteHint: s.name('allowNonfinite') });
  // a batch other than 1 is rewritten to 1 by the printer (with its own warning)
  if (!loaded.netParam.layer.some((l) => isInputLayer(l.type ?? ''))) s.warn('XportDNN expects the input as an Input layer (CHaiDNN takes the first layer\'s th_layer_in)', { file: o.deploy });
  const shape = singleInputShape(loaded.net, o.deploy);
  if (loaded.dims) return { ...loaded, shapeDims: loaded.dims };
  if (shape.length !== 4 || shape.some((x) => !(x > 0)))
    throw new OptionError(`the net input has shape (${shape.map((x) => (x > 0 ? x : '?')).join(',')}); give {dims} C,H,W`, { file: o.deploy });
  return { ...loaded, shapeDims: [shape[1], shape[2], shape[3]] };
}

/** The loaded model; `dims` as given (rebuilds use it), `shapeDims` settled from the net's input. */
type Loaded = LoadedNet & { shapeDims: [number, number, number] };

/** The calibration input's preprocessing, as the options give it for the loaded net. */
interface InputSetup {
  readsImages: boolean;
  tensors: boolean;
  /** the user's preprocessing (XportDNN's defaults where no images are read) */
  pre: Preprocess;
  resolved?: ResolvedPreprocess;
  dims: [number, number, number];
  model: LoadedNet['model'];
}

function resolvePreprocess(spec: PreprocessSpec | undefined, ctx: Parameters<Exclude<PreprocessSpec, Preprocess>>[0]): ResolvedPreprocess | undefined {
  if (typeof spec === 'function') return spec(ctx);
  if (ctx.inputs === 'tensors') return undefined;
  return { pre: spec ?? { ...XPORTDNN_PREPROCESS, dims: ctx.dims } };
}

function resolveInput(o: QuantizeOptions, s: RunSettings, loaded: Loaded): InputSetup {
  const tensors = s.needCalib && o.inputs?.kind === 'tensors';
  // built only where images are read (uniform DynamicFixed or statistics read none: the defaults need not fit the net)
  const readsImages = s.needCalib && o.inputs?.kind === 'images';
  const ctx = { model: loaded.model, dims: loaded.shapeDims, fromTransform: true };
  if (tensors) resolvePreprocess(o.preprocess, { ...ctx, inputs: 'tensors' });
  const resolved = readsImages ? resolvePreprocess(o.preprocess, { ...ctx, inputs: 'images' }) : undefined;
  const pre = resolved?.pre ?? { ...XPORTDNN_PREPROCESS, dims: loaded.shapeDims };
  return { readsImages, tensors, pre, resolved, dims: loaded.shapeDims, model: loaded.model };
}

/** The board rewrite of the input: its scale folded into the first layers, then the input recentred on 127. */
function boardInput(m: NetWithParam, pre: Preprocess, ctx: RebuildContext, s: RunSettings): { m: NetWithParam; pre: Preprocess } {
  let cur = { m, pre };
  if (boardScale(pre) !== 1) {
    const f = foldInputScaleForBoard(m, pre, ctx, s.info);
    if (f) cur = { m: f, pre: f.pre };
    else s.warn(boardInputWarning(pre, 'the scale cannot be folded here (the input feeds a layer that does not scale); feed the input scaled yourself')!, { file: ctx.deploy });
  }
  const r = recenterInputForBoard(cur.m, cur.pre, ctx, s.info);
  return r ? { m: r, pre: r.pre } : cur;
}

/** Warnings about what the board's image reader feeds (a scale, a mean image); `fix` undefined: the scale was handled. */
function warnBoardInput(input: InputSetup, file: string, s: RunSettings, fix: string | undefined): void {
  if (!input.readsImages) return;
  if (fix !== undefined) {
    const w = boardInputWarning(input.pre, fix);
    if (w) s.warn(w, { file });
  }
  const wm = boardMeanWarning(input.pre);
  if (wm) s.warn(wm, { file });
}

async function loadInputs(o: QuantizeOptions, s: RunSettings, pre: Preprocess) {
  if (!o.inputs) throw new OptionError(`${o.mode === 'Xilinx' ? 'Xilinx mode' : 'DynamicFixed auto'} needs calibration inputs ({inputs}) or statistics ({stats})`);
  return o.inputs.load(pre);
}

async function calibrateFor(o: QuantizeOptions, s: RunSettings, input: InputSetup, net: Net, pre: Preprocess, given?: StatsCollector): Promise<StatsCollector> {
  const images = await loadInputs(o, s, pre);
  return calibrateStats(net, images, {
    method: s.method, warn: s.warn, given, pass1Only: !!o.statsOnly && !given, allowNonfinite: o.allowNonfinite,
    settings: { bw: o.bitwidths.out, calibration: calibrationSettings({ ...pre, dims: input.dims }, o.deploy, { tensors: input.tensors, meanFile: input.resolved?.meanFile }) },
    weightsFile: o.weights ?? o.deploy, progress: o.progress ?? noProgress, threads: o.threads,
  });
}

async function planFor(o: QuantizeOptions, s: RunSettings, net: Net, stats: StatsCollector | undefined, netPre: Preprocess, loaded: Loaded): Promise<PlanResult> {
  if (o.mode === 'Xilinx') {
    const th = s.progressive
      ? await progressiveCalibration(net, await loadInputs(o, s, netPre), { bitwidths: o.bitwidths, method: s.method, pow2: !!o.pow2, warn: s.warn, progress: o.progress })
      : thresholdsOf(net, stats!, s.method, o.bitwidths.out, s.warn);
    return planXilinx(net, th, { bitwidths: o.bitwidths, method: s.method, pow2: !!o.pow2, warn: s.warn });
  }
  const xilinxInput = o.dfInput === 'xilinx';
  const r = planDynamicFixed(net, { bitwidths: o.bitwidths, fl: s.flAuto ? 'auto' : o.fl as FlTriple, stats, strict: !!o.strict, warn: s.warn, xilinxInput });
  if (xilinxInput) return xilinxInputStage(net, r, thresholdsOf(net, stats!, s.method, o.bitwidths.out, () => undefined), o.bitwidths, s.warn);
  if (!s.flAuto && o.inputs) {
    // XportDNN's fl are chosen without data: where inputs are given, say how much of the input they clip
    // the preprocessing as given first, then what the inputs are (the order a front end's messages expect)
    const pre = resolvePreprocess(o.preprocess, { model: loaded.model, dims: loaded.shapeDims, inputs: 'images', fromTransform: false })?.pre ?? { ...XPORTDNN_PREPROCESS, dims: loaded.shapeDims };
    const clip = inputClipWarning(measureInputClip(net, r.plan, await o.inputs.load(pre)));
    if (clip) s.warn(clip, { file: o.deploy });
  }
  return r;
}
