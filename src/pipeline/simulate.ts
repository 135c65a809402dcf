/**
 * Simulate: an annotated net run in CHaiDNN's integer arithmetic (sim/simulate) over labelled inputs, against the
 * float net in lockstep: float/fixed agreement, accuracy, per-layer errors worst first.
 */
import * as path from 'path';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import type { LayerNode, Net } from '../graph/types';
import { calibrationKind } from '../io/calibset';
import type { Preprocess } from '../io/images';
import { loadInputImage, npySampleName, npySampleReader, npySamples } from '../io/net-input';
import { checkFiniteWeights, countNonFinite, nonFiniteActivationMessage } from '../graph/finite';
import { addClassification, newClassStats } from '../sim/metrics';
import type { ClassStats } from '../sim/metrics';
import { inputClipWarning } from '../sim/input-range';
import { compileSim, layerReports, newSimStats, runSim } from '../sim/simulate';
import type { LayerReport, SimOptions } from '../sim/simulate';
import type { Tensor } from '../tensor';
import { deployOfTrainTest } from './deploy';
import { loadModelWithDims } from './load';
import type { Reporter } from './types';
import { apiOptionName, noProgress } from './types';

/** One input of a run: produced when needed, with its class (-1: unknown). */
export interface Sample {
  name: string;
  label: number;
  load: () => Promise<Tensor>;
}

/**
 * The images (or .npy net inputs) under `dir`, searched recursively and sorted; `labelsFromDirname`: the class of
 * an image is the index of its directory among the sorted class directories.
 */
export function samplesFromDirectory(dir: string, pre: Preprocess, o: { labelsFromDirname?: boolean } = {}): Sample[] {
  const listing = calibrationKind(dir, true);
  if (listing.files.length === 0) throw new ChaiqError('calibration directory has no images (.png, .jpg, .jpeg) or .npy inputs', { file: dir });
  const files = listing.files.map((r) => path.join(dir, r));
  const classes = o.labelsFromDirname ? [...new Set(files.map((f) => path.relative(dir, path.dirname(f))))].sort() : [];
  const labelOf = (f: string) => (o.labelsFromDirname ? classes.indexOf(path.relative(dir, path.dirname(f))) : -1);
  if (listing.kind === 'npy') {
    const read = npySampleReader(pre.dims);
    return npySamples(files, pre.dims).map((s) => ({ name: npySampleName(path.relative(dir, s.file), s), label: labelOf(s.file), load: async () => read(s.file, s.index) }));
  }
  return files.map((f) => ({ name: path.relative(dir, f), label: labelOf(f), load: () => loadInputImage(f, pre) }));
}

/** CHaiDNN's runtime choices and their what-ifs (sim/simulate SimOptions). */
export type RuntimeOptions = Pick<SimOptions, 'psum18' | 'aveDivisor' | 'foldedWeightFl' | 'finalOpTh'>;

export interface SimulateOptions extends Reporter, RuntimeOptions {
  /** the annotated prototxt (precision_param blocks) */
  deploy: string;
  /** its caffemodel */
  weights: string;
  dims?: readonly number[];
  inputShape?: number[];
  samples: Sample[];
  /** k of the top-k figures (default 5) */
  top?: number;
  allowNonfinite?: boolean;
}

/** What a simulation found. */
export interface SimulationResult {
  images: number;
  mode: string;
  psum18: boolean;
  output_blob: string;
  top: number;
  classification: ClassStats;
  /** per layer, worst first */
  layers: LayerReport[];
}

/** Simulate the annotated net on `samples`. Throws ChaiqError on bad input. */
export async function simulate(o: SimulateOptions): Promise<SimulationResult> {
  const warn: WarnFn = o.warn ?? (() => undefined);
  const net = loadForSimulation(o, warn);
  const top = o.top ?? 5;
  const prog = compileSim(net, { warn, psum18: o.psum18, aveDivisor: o.aveDivisor, foldedWeightFl: o.foldedWeightFl, finalOpTh: o.finalOpTh });
  const stats = newSimStats();
  const cls = newClassStats();
  const outBlob = net.outputs[0];
  if (!outBlob) throw new ChaiqError('the net has no output blob', { file: o.deploy }, 2);
  const guard = nonFiniteGuard(!!o.allowNonfinite, warn, (o.optionName ?? apiOptionName)('allowNonfinite'));
  const bar = (o.progress ?? noProgress)(o.samples.length, 'simulating');
  let done = 0;
  try {
    for (const s of o.samples) {
      const x = await s.load();
      const onReference = guard(s.name);
      onReference(net.layers.find((l) => l.tops.includes(net.inputs[0].name)) ?? net.layers[0], [x]);
      const r = await runSim(prog, x, { stats, keep: [outBlob], onReference });
      bar.tick(++done);
      const fx = r.outputs.get(outBlob);
      const fl = r.reference.get(outBlob);
      if (fx && fl) addClassification(cls, fl.data, fx.data, s.label >= 0 ? s.label : undefined, top);
    }
  } finally {
    bar.stop();
  }
  const clip = inputClipWarning(stats.input);
  if (clip) warn(clip, { file: o.deploy });
  return { images: o.samples.length, mode: prog.mode, psum18: !!o.psum18, output_blob: outBlob, top, classification: cls, layers: layerReports(stats) };
}

/** The deploy net to simulate (a train/test net's TEST phase), its weights checked for NaN/Inf. */
function loadForSimulation(o: SimulateOptions, warn: WarnFn): Net {
  const { model, dims } = loadModelWithDims({ deploy: o.deploy, weights: o.weights, dims: o.dims, inputShape: o.inputShape, warn });
  const net = deployOfTrainTest(model, o.deploy, dims, warn)?.net ?? model.graph;
  checkFiniteWeights(net, o.weights, { allow: !!o.allowNonfinite, warn, flag: (o.optionName ?? apiOptionName)('allowNonfinite') });
  if (net.inputs.length !== 1) throw new ChaiqError(`the net has ${net.inputs.length} inputs; CHaiDNN needs exactly one`, { file: o.deploy });
  return net;
}

/** NaN/Inf in the float run: an error naming layer, blob and input, or (allowed) a warning once per blob. */
function nonFiniteGuard(allow: boolean, warn: WarnFn, hint: string) {
  const warned = new Set<string>();
  return (sample: string) => (node: LayerNode, tops: Tensor[]) => {
    tops.forEach((t, k) => {
      const bad = countNonFinite(t.data);
      if (!bad) return;
      const msg = nonFiniteActivationMessage(node, k, bad, `in the float run on ${sample}`);
      if (!allow) throw new ChaiqError(`${msg}; ${hint} goes on anyway`, node.loc ?? {}, 1);
      const key = `${node.name}/${k}`;
      if (!warned.has(key)) warn(msg, node.loc ?? {});
      warned.add(key);
    });
  };
}
