import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { ChaiqError, warnToStderr } from '../../errors';
import type { WarnFn } from '../../errors';
import type { Tensor } from '../../tensor';
import type { Preprocess } from '../../io/images';
import { calibrationKind } from '../../io/calibset';
import { readNpy, writeNpy } from '../../io/npy';
import { compileSim, layerReports } from '../../sim/simulate';
import type { LayerReport } from '../../sim/simulate';
import type { ClassStats, ErrorSummary } from '../../sim/metrics';
import { writeAtomic } from './quantize';
import { fsErrorWords } from '../../io/fserr';
import { checkFlagPaths, ensureOutputDir, writeAllOrNone } from '../../io/outputs';
import { boardInputWarning, boardMeanWarning, buildPreprocess, loadInputImage, loadModelWithDims, netInputDims, openMnist, preprocessOptions } from '../preprocess';
import type { PreprocessArgs } from '../preprocess';
import { applyInputHeader, boardInputFix, npySampleName, npySampleReader, npySamples as npyFileSamples, parseInputShape, readInputHeader, warnImageFlagsIgnored } from '../inputs';
import { deployOfTrainTest, withTransformDefaults } from '../traintest';
import { StatsCollector } from '../../calib/stats';
import { renderReport } from '../../report/html';
import { simulateReportLayers } from '../../report/build';
import { inputClipWarning } from '../../sim/input-range';
import { checkFiniteWeights, countNonFinite, nonFiniteActivationMessage } from '../../graph/finite';
import type { LayerNode, Net } from '../../graph/types';
import type { SimProgram } from '../../sim/simulate';
import { parseMetrics, parseShard } from '../../sim/results';
import type { MetricsLevel } from '../../sim/results';
import { runImages, runIdentity } from '../simulate-run';
import { checkRuntimeBitwidths } from '../sim-bitwidths';
import { makeProgress } from '../progress';
import { resolveThreads } from '../../threads';
import { resultsFile, shardSlice, toSimStats } from '../../sim/results';
import type { ImageRunner } from '../../sim/parallel';
import { floatableLayers, resolveFloatLayers } from '../../sim/float-layers';
import { addDetections, detectionsOf, detectorOutputs, formatDetectionText, newDetectionStats, summarizeDetections, type DetectionSummary, type DetectorOutputs } from '../../sim/detection';
import { formatRankingText, rankFloatLayers, rankingJson, rankingOutputs, type LayerRanking } from '../../sim/layer-ranking';

interface SimulateArgs extends PreprocessArgs {
  allow_nonfinite?: boolean;
  deploy_model?: string;
  weights?: string;
  calibration_directory?: string;
  input?: string;
  mnist?: string;
  mnist_labels?: string;
  labels?: string;
  labels_from_dirname: boolean;
  top: number;
  format: string;
  output_dir?: string;
  psum18: boolean;
  ave_divisor: string;
  folded_weight_fl?: string;
  final_op_th?: string;
  limit?: number;
  report?: string;
  metrics?: string;
  threads?: number;
  shard?: string;
  save_results?: string;
  float_layers?: string;
  rank_layers?: boolean;
  detection_threshold?: number;
}

const usage = (msg: string) => new ChaiqError(msg, {}, 2);

/** One input of the run: a lazily produced tensor and its label (-1 unknown). */
interface Sample {
  name: string;
  label: number;
  load: () => Promise<Tensor>;
}

function mnistSamples(file: string, labelsFile: string | undefined, pre: Preprocess): Sample[] {
  const m = openMnist(file, pre, labelsFile);
  return Array.from({ length: m.count }, (_, k) => ({
    name: `${path.basename(file)}[${k}]`,
    label: m.labels ? m.labels[k] : -1,
    load: async () => m.tensor(k),
  }));
}

/** Image (or .npy) files under DIR (recursively, sorted), each labelled by its directory when asked. */
function directorySamples(dir: string, listing: { kind: 'images' | 'npy'; files: string[] }, pre: Preprocess | undefined, dims: number[], byDir: boolean, labelMap?: Map<string, number>): Sample[] {
  const rels = listing.files;
  // a missing directory is a usage error found with the flags; an empty one is bad input, as in quantize
  if (rels.length === 0) throw new ChaiqError('calibration directory has no images (.png, .jpg, .jpeg) or .npy inputs', { file: dir });
  const files = rels.map((r) => path.join(dir, r));
  const classes = byDir ? [...new Set(files.map((f) => path.relative(dir, path.dirname(f))))].sort() : [];
  const labelOf = (f: string) => {
    if (byDir) return classes.indexOf(path.relative(dir, path.dirname(f)));
    if (labelMap) return labelMap.get(path.relative(dir, f)) ?? labelMap.get(path.basename(f)) ?? -1;
    return -1;
  };
  if (listing.kind === 'npy') {
    const read = npySampleReader(dims);
    return npyFileSamples(files, dims).map((s) => ({ name: npySampleName(path.relative(dir, s.file), s), label: labelOf(s.file), load: async () => read(s.file, s.index) }));
  }
  return files.map((f) => ({ name: path.relative(dir, f), label: labelOf(f), load: () => loadInputImage(f, pre!) }));
}

/** What DIR holds (images or .npy), a missing directory being a usage error. */
function inputListing(dir: string) {
  try {
    return calibrationKind(dir, true);
  } catch (e) {
    if (e instanceof ChaiqError && /directory (not found|is not a directory)/.test(e.message)) e.exitCode = 2;
    throw e;
  }
}

/** `--labels FILE`: Caffe's list format, one `<image path> <class index>` per line. */
function readLabelFile(file: string): Map<string, number> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ChaiqError(`cannot read label file: ${fsErrorWords(e)}`, { file }, 2);
  }
  const m = new Map<string, number>();
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const mm = /^(.*\S)\s+(-?\d+)$/.exec(t);
    if (!mm) throw new ChaiqError(`expected "<image> <class index>"`, { file, line: i + 1, col: 1 }, 2);
    m.set(mm[1], Number(mm[2]));
  });
  return m;
}

function npySamples(file: string, netShape: number[]): Sample[] {
  const t = readNpy(file);
  const per = netShape.slice(1).reduce((a, b) => a * b, 1);
  const shape = t.shape.length === netShape.length - 1 ? [1, ...t.shape] : t.shape;
  if (shape.length !== netShape.length || shape.slice(1).some((d, i) => d !== netShape[i + 1])) {
    throw new ChaiqError(`input of shape (${t.shape.join(',')}) does not fit the net input (N,${netShape.slice(1).join(',')})`, { file }, 2);
  }
  return Array.from({ length: shape[0] }, (_, k) => ({
    name: `${path.basename(file)}[${k}]`,
    label: -1,
    load: async () => ({ shape: [1, ...netShape.slice(1)], data: t.data.slice(k * per, (k + 1) * per) }),
  }));
}

const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(2) + '%' : '-');
const db = (v: number | undefined) => (v === undefined ? '-' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v.toFixed(1));

function jsonNum(v: number | null): number | string | null {
  if (v === null) return null;
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? null : v > 0 ? 'inf' : '-inf';
}

function summaryJson(s: ErrorSummary | undefined) {
  if (!s) return null;
  return { sqnr_db: jsonNum(s.sqnrDb), cosine: jsonNum(s.cosine), max_abs_err: jsonNum(s.maxAbsErr), saturated: jsonNum(s.satFraction), count: s.count };
}

export interface SimulateReport {
  images: number;
  mode: string;
  psum18: boolean;
  output_blob: string;
  top: number;
  /** what was measured (default 'layers': the per-layer table) */
  metrics?: MetricsLevel;
  classification: ClassStats;
  layers: LayerReport[];
  /** --float_layers, as resolved */
  float_layers?: string[];
  /** --rank_layers */
  ranking?: LayerRanking;
  /** detectors: float/fixed detection agreement */
  detection?: { outputs: DetectorOutputs; summary: DetectionSummary };
}

export function formatSimulateText(r: SimulateReport): string {
  const c = r.classification;
  const metrics = r.metrics ?? 'layers';
  const lines: string[] = [];
  lines.push(`simulated ${r.images} image(s), ${r.mode} mode${r.psum18 ? ', 18-bit partial sums' : ''}; classes from '${r.output_blob}'`);
  if (r.float_layers?.length) lines.push(`in float (--float_layers): ${r.float_layers.join(', ')}`);
  if (r.detection) lines.push(formatDetectionText(r.detection.outputs, r.detection.summary).trimEnd());
  // with --top 1 the top-k figures are the top-1 ones: print them once
  const topK = r.top > 1;
  if (metrics !== 'none') lines.push(`float vs fixed agreement: top-1 ${pct(c.top1Agree, c.images)}` + (topK ? `, float top-1 in fixed top-${r.top} ${pct(c.top5Agree, c.images)}` : ''));
  if (c.labelled) {
    const acc = (top1: number, topk: number) => `top-1 ${pct(top1, c.labelled)}` + (topK ? ` top-${r.top} ${pct(topk, c.labelled)}` : '');
    lines.push(`accuracy on ${c.labelled} labelled: ` + (metrics === 'none' ? `fixed ${acc(c.fixedTop1, c.fixedTop5)} (the float net not run)` : `float ${acc(c.floatTop1, c.floatTop5)}; fixed ${acc(c.fixedTop1, c.fixedTop5)}`));
  } else if (metrics === 'none') lines.push('no labels: only the fixed chain ran (--metrics none), so there is nothing to score');
  if (metrics !== 'layers') return lines.join('\n') + '\n';
  lines.push('');
  lines.push('per layer, worst first (local: the layer alone on its quantized float input; SQNR/cos/err: the fixed chain vs float)');
  const rows = [['layer', 'type', 'blob', 'where', 'local dB', 'SQNR dB', 'cosine', 'max|err|', 'sat']];
  for (const l of r.layers) {
    rows.push([l.name, l.type, l.blob, l.where, db(l.local?.sqnrDb), db(l.cumulative.sqnrDb), l.cumulative.cosine.toFixed(5),
      l.cumulative.maxAbsErr.toPrecision(4), l.cumulative.satFraction === null ? '-' : (100 * l.cumulative.satFraction).toFixed(2) + '%']);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((x) => x[i].length)));
  for (const x of rows) lines.push(x.map((v, i) => (i === x.length - 1 ? v : v.padEnd(w[i]))).join('  ').trimEnd());
  if (r.ranking) lines.push('', formatRankingText(r.ranking).trimEnd());
  return lines.join('\n') + '\n';
}

export function simulateReportJson(r: SimulateReport) {
  const c = r.classification;
  const rate = (a: number, b: number) => (b ? a / b : null);
  const noFloat = r.metrics === 'none';
  return {
    ...(r.metrics && r.metrics !== 'layers' ? { metrics: r.metrics } : {}),
    images: r.images,
    mode: r.mode,
    psum18: r.psum18,
    output_blob: r.output_blob,
    top: r.top,
    agreement: noFloat ? null : { top1: rate(c.top1Agree, c.images), topk: rate(c.top5Agree, c.images) },
    accuracy: c.labelled
      ? {
        labelled: c.labelled,
        float: noFloat ? null : { top1: rate(c.floatTop1, c.labelled), topk: rate(c.floatTop5, c.labelled) },
        fixed: { top1: rate(c.fixedTop1, c.labelled), topk: rate(c.fixedTop5, c.labelled) },
      }
      : null,
    layers: r.layers.map((l) => ({ name: l.name, type: l.type, blob: l.blob, where: l.where, local: summaryJson(l.local), cumulative: summaryJson(l.cumulative) })),
    ...(r.float_layers ? { float_layers: r.float_layers } : {}),
    ...(r.ranking ? { layer_ranking: rankingJson(r.ranking) } : {}),
    ...(r.detection ? { detection: { outputs: r.detection.outputs, ...r.detection.summary } } : {}),
  };
}

/** The remaining flag checks, input paths and outputs: before any file is read or warning printed. */
function checkSimulateUsage(args: SimulateArgs): void {
  if (args.ave_divisor !== 'chaidnn' && args.ave_divisor !== 'caffe') throw usage(`--ave_divisor must be chaidnn or caffe, got '${args.ave_divisor}'`);
  const foldedWeightFl = args.folded_weight_fl ?? 'runtime';
  if (foldedWeightFl !== 'runtime' && foldedWeightFl !== 'mse') throw usage(`--folded_weight_fl must be runtime or mse, got '${foldedWeightFl}'`);
  const finalOpTh = args.final_op_th ?? 'int';
  if (finalOpTh !== 'int' && finalOpTh !== 'float') throw usage(`--final_op_th must be int or float, got '${finalOpTh}'`);
  const inputs = [
    { flag: '--deploy_model', path: args.deploy_model },
    { flag: '--weights', path: args.weights },
    { flag: '--input', path: args.input },
    { flag: '--mnist', path: args.mnist },
    { flag: '--mnist_labels', path: args.mnist_labels },
    { flag: '--labels', path: args.labels },
    { flag: '--mean_file', path: args.mean_file },
  ];
  const t = args.detection_threshold;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0 && t < 1)) throw usage(`--detection_threshold must be a score in [0, 1), got ${t}`);
  const metrics = parseMetrics(args.metrics);
  if (args.report && metrics !== 'layers') throw usage(`--report needs the per-layer metrics; drop --metrics ${metrics}`);
  parseShard(args.shard);
  resolveThreads(args.threads);
  checkFlagPaths([...inputs, { flag: '--calibration_directory', path: args.calibration_directory, dir: true }],
    [{ flag: '--report', path: args.report }, { flag: '--output_dir', path: args.output_dir, dir: true }, { flag: '--save_results', path: args.save_results }]);
}

/** A simulation ready to run: the net compiled, the inputs listed (this shard's and all). */
export interface SimulateSetup {
  net: Net;
  prog: SimProgram;
  /** this shard's inputs */
  samples: Sample[];
  /** all inputs, before --shard */
  allSamples: Sample[];
  outBlob: string;
  metrics: MetricsLevel;
  /** C,H,W the net runs at */
  dims: number[];
  /** --float_layers, resolved */
  floatLayers?: Set<string>;
}

/** Flags checked, net loaded and compiled, inputs listed: everything before the first image (also each worker's start). */
export async function prepareSimulate(args: SimulateArgs, warn: WarnFn = warnToStderr): Promise<SimulateSetup> {
  if (!args.deploy_model) throw usage('missing --deploy_model FILE (an annotated prototxt)');
  if (!args.weights) throw usage('missing --weights FILE.caffemodel');
  const sources = [args.calibration_directory, args.input, args.mnist].filter((s) => s !== undefined);
  if (sources.length !== 1) throw usage('give exactly one of --calibration_directory DIR, --input X.npy, --mnist IDX');
  if (args.format !== 'text' && args.format !== 'json') throw usage(`--format must be text or json, got '${args.format}'`);
  if (!Number.isInteger(args.top) || args.top < 1) throw usage(`--top must be a positive integer, got ${args.top}`);
  if (args.limit !== undefined && (!Number.isInteger(args.limit) || args.limit < 1)) throw usage(`--limit must be a positive integer, got ${args.limit}`);
  if (args.mnist_labels && !args.mnist) throw usage('--mnist_labels needs --mnist');
  if (args.labels && args.labels_from_dirname) throw usage('give --labels or --labels_from_dirname, not both');
  if ((args.labels || args.labels_from_dirname) && !args.calibration_directory) throw usage('--labels / --labels_from_dirname need --calibration_directory');
  checkSimulateUsage(args);

  const inputShape = parseInputShape(args.input_shape, { batchOne: true });
  const { model: m, dims: given } = loadModelWithDims(args.deploy_model, args.weights, args.dims, { warn, inputShape });
  // a train/test net runs as its deploy net; its data layer's transform_param gives the preprocessing defaults
  const trainTest = deployOfTrainTest(m, args.deploy_model, given, warn);
  const net = trainTest?.net ?? m.graph;
  checkFiniteWeights(net, args.weights, { allow: !!args.allow_nonfinite, warn, flag: '--allow_nonfinite' });
  checkRuntimeBitwidths(net, args.deploy_model);
  if (net.inputs.length !== 1) throw new ChaiqError(`the net has ${net.inputs.length} inputs; CHaiDNN needs exactly one`, { file: args.deploy_model });
  const dims = given ?? netInputDims(net) ?? [3, 224, 224];
  const header = readInputHeader(args.deploy_model, warn);
  const listing = args.calibration_directory !== undefined ? inputListing(args.calibration_directory) : undefined;
  // .npy data is the net input as it is: no image preprocessing (and no defaults that must fit the net)
  const npyIn = args.input !== undefined || listing?.kind === 'npy';
  let pre: Preprocess | undefined;
  if (npyIn) warnImageFlagsIgnored(args, warn, args.input ?? 'the directory\'s .npy data');
  else pre = buildPreprocess(applyInputHeader(withTransformDefaults(args, m.net, args.deploy_model, warn), header, args.deploy_model, warn), dims, { mnist: !!args.mnist });
  let samples: Sample[];
  if (args.mnist) samples = mnistSamples(args.mnist, args.mnist_labels, pre!);
  else if (args.input) samples = npySamples(args.input, [1, ...dims]);
  else samples = directorySamples(args.calibration_directory!, listing!, pre, dims, args.labels_from_dirname, args.labels ? readLabelFile(args.labels) : undefined);
  if (args.limit !== undefined) samples = samples.slice(0, args.limit);
  const allSamples = samples;
  samples = shardSlice(samples, parseShard(args.shard));
  // said once the inputs are known to load
  if (pre) {
    const w = boardInputWarning(pre, boardInputFix(header));
    if (w) warn(w);
    const wm = boardMeanWarning(pre);
    if (wm) warn(wm);
  }

  // checked by checkSimulateUsage
  const foldedWeightFl = (args.folded_weight_fl ?? 'runtime') as 'runtime' | 'mse';
  const finalOpTh = (args.final_op_th ?? 'int') as 'int' | 'float';
  const prog = compileSim(net, { warn, psum18: args.psum18, aveDivisor: args.ave_divisor as 'chaidnn' | 'caffe', foldedWeightFl, finalOpTh });
  const floatLayers = args.float_layers !== undefined ? resolveFloatLayers(prog.steps, floatLayerNames(args.float_layers), warn) : undefined;
  const outBlob = net.outputs[0];
  if (!outBlob) throw new ChaiqError('the net has no output blob', { file: args.deploy_model }, 2);
  return { net, prog, samples, allSamples, outBlob, metrics: parseMetrics(args.metrics), dims, floatLayers };
}

export async function runSimulate(args: SimulateArgs, warn: WarnFn = warnToStderr): Promise<SimulateReport> {
  const setup = await prepareSimulate(args, warn);
  const { net, prog, samples, outBlob, metrics } = setup;
  const dump = args.output_dir ? new Map<string, { shape: number[]; parts: Float32Array[] }>() : undefined;
  // --report: histograms of the float activations seen, keyed as calibration keys them (blob@last writer)
  const seen = args.report ? new StatsCollector() : undefined;
  const lastWriter = new Map<string, string>();
  for (const l of net.layers) for (const t of l.tops) lastWriter.set(t, `${t}@${l.name}`);
  // detectors are scored on the float and fixed outputs of each image, the ranking reruns the images: one thread, in order
  const detector = metrics !== 'none' ? detectorOutputs(net, setup.dims) : undefined;
  const detThreshold = args.detection_threshold ?? 0.5;
  const dstats = detector ? newDetectionStats(detThreshold) : undefined;
  const sequential = !!(dump || seen || detector || args.rank_layers);
  const runner: ImageRunner = {
    net, prog, outBlob, metrics, top: args.top, warn, floatLayers: setup.floatLayers,
    guard: (name, w) => nonFiniteGuard(name, !!args.allow_nonfinite, w),
    keepAll: !!(dump || seen),
    keep: detector ? net.outputs : undefined,
    onResult: dump || seen || detector ? (r) => {
      if (detector) addDetections(dstats!, detectionsOf(detector, r.reference, setup.dims, detThreshold), detectionsOf(detector, r.outputs, setup.dims, detThreshold));
      if (seen) for (const [b, t] of r.reference) if (lastWriter.has(b)) seen.observe(lastWriter.get(b)!, args.allow_nonfinite ? t.data.filter(Number.isFinite) : t.data);
      if (dump) {
        for (const [b, t] of r.outputs) {
          let e = dump.get(b);
          if (!e) dump.set(b, (e = { shape: t.shape.slice(1), parts: [] }));
          e.parts.push(t.data);
        }
      }
    } : undefined,
  };
  // --output_dir and --report gather every blob of every image: one thread, in order
  const acc = await runImages(args, runner, samples, { sequential, warn });
  if (detector) acc.detection = { outputs: detector, stats: dstats! };
  const stats = toSimStats(acc);
  const cls = acc.classification;
  const clip = inputClipWarning(stats.input);
  if (clip) warn(clip, { file: args.deploy_model });
  if (dump && args.output_dir) {
    ensureOutputDir(args.output_dir);
    for (const [b, e] of dump) {
      const per = e.parts[0].length;
      const data = new Float32Array(per * e.parts.length);
      e.parts.forEach((p, k) => data.set(p, k * per));
      writeNpy(path.join(args.output_dir, encodeURIComponent(b) + '.npy'), { shape: [e.parts.length, ...e.shape], data });
    }
  }
  const result: SimulateReport = { images: samples.length, mode: prog.mode, psum18: args.psum18, output_blob: outBlob, top: args.top, classification: cls, layers: metrics === 'layers' ? layerReports(stats) : [] };
  if (metrics !== 'layers') result.metrics = metrics;
  if (setup.floatLayers) result.float_layers = [...setup.floatLayers];
  if (detector) result.detection = { outputs: detector, summary: summarizeDetections(dstats!) };
  if (args.rank_layers) {
    const x: Tensor[] = [];
    for (const s of samples) x.push(await s.load());
    const rbar = makeProgress(floatableLayers(prog.steps).length + 1, 'ranking layers', 'runs');
    try {
      result.ranking = await rankFloatLayers(prog, x, samples.map((s) => s.label), rankingOutputs(net), { key: detector || net.outputs.length > 1 ? 'sqnr' : 'top1', onRun: (d) => rbar.tick(d) });
    } finally {
      rbar.stop();
    }
  }
  if (args.save_results) writeAtomic(args.save_results, JSON.stringify(resultsFile(runIdentity(args, setup, result), parseShard(args.shard), acc)) + '\n');
  if (args.report) {
    const c = cls;
    const p = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(2)} %` : '–');
    const summary: [string, string][] = [['images', String(samples.length)], ['mode', prog.mode], ['float/fixed top-1 agreement', p(c.top1Agree, c.images)]];
    if (c.labelled) summary.push(['float top-1', p(c.floatTop1, c.labelled)], ['fixed top-1', p(c.fixedTop1, c.labelled)]);
    writeAtomic(args.report, renderReport({ title: `${path.basename(args.deploy_model!)} — simulated (${prog.mode})`, summary, layers: simulateReportLayers(net, result.layers, seen) }));
  }
  return result;
}

const nonFiniteWarned = new Set<string>();

/** NaN/Inf in the float run (the input or a layer's output): an error naming layer, blob and input, or a warning once per blob. */
export function nonFiniteGuard(sample: string, allow: boolean, warn: WarnFn) {
  return (node: LayerNode, tops: Tensor[]) => {
    tops.forEach((t, k) => {
      const bad = countNonFinite(t.data);
      if (!bad) return;
      const msg = nonFiniteActivationMessage(node, k, bad, `in the float run on ${sample}`);
      if (!allow) throw new ChaiqError(`${msg}; --allow_nonfinite goes on anyway`, node.loc ?? {}, 1);
      const key = `${node.name}/${k}`;
      if (!nonFiniteWarned.has(key)) warn(msg, node.loc ?? {});
      nonFiniteWarned.add(key);
    });
  };
}

/** `--float_layers a,b`: names, blanks dropped; an empty list is a usage error. */
function floatLayerNames(v: string): string[] {
  const names = String(v).split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (!names.length) throw usage('--float_layers needs a comma list of layer names');
  return names;
}

function builder(y: any) {
  return preprocessOptions(y, { mnist: true })
    .option('deploy_model', { type: 'string', describe: 'annotated prototxt (precision_param / quantization_param blocks)' })
    .option('weights', { type: 'string', describe: 'FP32 caffemodel' })
    .option('calibration_directory', { type: 'string', describe: 'directory of .png/.jpg images, or of .npy net inputs (C,H,W or N,C,H,W), searched recursively, sorted' })
    .option('input', { type: 'string', describe: 'preprocessed input(s) as .npy, (N,C,H,W) or (C,H,W)' })
    .option('mnist', { type: 'string', describe: 'MNIST idx3 image file (.gz accepted)' })
    .option('mnist_labels', { type: 'string', describe: 'MNIST idx1 label file (.gz accepted)' })
    .option('labels', { type: 'string', describe: 'label list: "<image path relative to the directory> <class index>" per line' })
    .option('labels_from_dirname', { type: 'boolean', default: false, describe: 'class = index of the image\'s directory among the sorted class directories' })
    .option('top', { type: 'number', default: 5, describe: 'k of the top-k figures' })
    .option('format', { type: 'string', default: 'text', describe: 'text or json' })
    .option('output_dir', { type: 'string', describe: 'write every blob\'s dequantized fixed values, stacked over the images, as <blob>.npy' })
    .option('psum18', { type: 'boolean', default: false, describe: 'saturate conv partial sums to 18 bits as the HLS datapath' })
    .option('final_op_th', { type: 'string', default: 'int', describe: 'Xilinx th_layer_out of convs with BN/Scale fused: int (CHaiDNN truncates it, int final_op_th) or float (what-if)' })
    .option('folded_weight_fl', { type: 'string', default: 'runtime', describe: 'DynamicFixed weights of convs with BN/Scale folded in: runtime (CHaiDNN derives fl from max|W\'|, ignoring fl_params) or mse (best fl, what-if)' })
    .option('ave_divisor', { type: 'string', default: 'chaidnn', describe: 'AVE pool divisor: chaidnn (k², the HW) or caffe (clipped window count, what-if)' })
    .option('allow_nonfinite', { type: 'boolean', default: false, describe: 'go on when weights or activations hold NaN/Inf (warned)' })
    .option('limit', { type: 'number', describe: 'simulate only the first N inputs' })
    .option('report', { type: 'string', describe: 'also write an HTML report (per-layer SQNR, thresholds, float histograms seen) to FILE.html' })
    .option('metrics', { type: 'string', default: 'layers', describe: 'layers (per-layer table vs float), agreement (top-k vs the float net only) or none (the fixed chain alone: top-k vs labels)' })
    .option('threads', { type: 'number', describe: 'threads to use (default: CHAIQ_THREADS, else os.availableParallelism()); images run on worker threads' })
    .option('shard', { type: 'string', describe: 'K/N: simulate only the K-th (from 0) of N contiguous slices of the sorted inputs' })
    .option('save_results', { type: 'string', describe: 'write the run\'s mergeable accumulators to FILE (JSON) for chaiq merge-results' })
    .option('float_layers', { type: 'string', describe: 'comma list of layers run in float inside the fixed net (input dequantized, output requantized to the format its consumers read)' })
    .option('rank_layers', { type: 'boolean', default: false, describe: 'rank the fixed-point layers by what running each alone in float recovers (top-1 agreement, output SQNR); meant for a few images (--limit)' })
    .option('detection_threshold', { type: 'number', describe: 'detectors: score above which float and fixed detections are compared (default 0.5)' });
}

export const simulateCommand: CommandModule<{}, SimulateArgs> = {
  command: 'simulate',
  describe: 'run an annotated net in CHaiDNN fixed point; per-layer error vs float, top-k agreement, accuracy',
  builder,
  handler: async (args) => {
    const r = await writeAllOrNone(() => runSimulate(args));
    process.stdout.write(args.format === 'json' ? JSON.stringify(simulateReportJson(r), null, 2) + '\n' : formatSimulateText(r));
  },
};
