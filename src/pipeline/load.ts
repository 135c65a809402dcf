/**
 * Load: a prototxt (deploy or train/test, any Caffe version: proto/load upgrades it) and its caffemodel → the
 * executable net, with the input's C,H,W checked against the Input layer, every blob's size checked, the weights
 * checked for NaN/Inf and a train/test net converted to the deploy net CHaiDNN runs.
 */
import { ChaiqError, OptionError } from '../errors';
import type { WarnFn } from '../errors';
import { buildNet } from '../graph/build';
import type { Net } from '../graph/types';
import { readCaffemodel } from '../proto/caffemodel';
import { checkFiniteWeights } from '../graph/finite';
import { loadNetText } from '../graph/load';
import type { LoadedModel } from '../graph/load';
import type { NetParam } from '../proto/message';
import type { Tensor } from '../tensor';
import { deployOfTrainTest } from './deploy';
import type { TrainTestModel } from './deploy';
import { isInputLayer } from '../layers/registry';
import { providedWeights } from '../shared-weights';

export interface LoadOptions {
  /** the prototxt: a deploy net or a train/test net */
  deploy: string;
  /** the FP32 caffemodel (none: the net without weights) */
  weights?: string;
  /** C,H,W of the input (XportDNN's dims), checked against the Input layer; a Data-layer net gets it as its shape */
  dims?: readonly number[];
  /** N,C,H,W the net runs at, overriding the prototxt (a fully convolutional net at another size) */
  inputShape?: number[];
  warn: WarnFn;
}

/**
 * The model with `dims` checked before the net is built and used as its input shape; `inputShape` overrides both
 * (and alone gives the C,H,W too).
 */
export function loadModelWithDims(opts: LoadOptions): { model: LoadedModel; dims?: [number, number, number] } {
  const t = loadNetText(opts.deploy, { warn: opts.warn });
  const dims = checkDims(opts.dims, t.net, opts.deploy, opts.inputShape);
  let weights: Map<string, Tensor[]> | undefined;
  if (opts.weights) weights = providedWeights(opts.weights);
  if (opts.weights && !weights) {
    const names = new Set(t.net.layer.map((l) => String(l.name ?? '')));
    weights = readCaffemodel(opts.weights, { only: (n) => names.has(n) }).weights;
  }
  const inputShape = opts.inputShape ?? (dims ? [1, ...dims] : undefined);
  const graph = buildNet(t.net, { file: opts.deploy, weights, weightsFile: opts.weights, warn: opts.warn, inputShape });
  checkBlobSizes(graph, opts.deploy);
  const s = opts.inputShape;
  return { model: { ...t, graph }, dims: dims ?? (s && s.length === 4 ? [s[1], s[2], s[3]] : undefined) };
}

/** `dims` (C,H,W) checked against the declared input: the Input layer, or `override` (a full N,C,H,W). */
function checkDims(given: readonly number[] | undefined, netParam: NetParam, file: string, override?: number[]): [number, number, number] | undefined {
  if (given === undefined) return undefined;
  const d = [...given] as [number, number, number];
  if (override) {
    if (override.length !== 4 || d.some((x, i) => x !== override[i + 1]))
      throw new OptionError(`{dims} ${d.join(',')} disagrees with {inputShape} ${override.join(',')}`);
    return d;
  }
  const inputLayer = netParam.layer.find((l) => isInputLayer(l.type ?? ''));
  const declared: number[] | undefined = inputLayer?.input_param?.shape?.[0]?.dim?.map(Number);
  if (declared && declared.length === 4 && d.some((x, i) => x !== declared[i + 1]))
    throw new OptionError(`{dims} ${d.join(',')} disagrees with the Input layer "${inputLayer!.name}" of shape (${declared.join(',')}); {inputShape} 1,${d.join(',')} runs the net at another size`, { file });
  if (declared && declared.length !== 4) throw new ChaiqError(`the Input layer has shape (${declared.join(',')}); CHaiDNN needs (1,C,H,W)`, { file }, 2);
  return d;
}

/** Typed arrays (and wasm memory) hold at most this many float32 values per blob. */
const MAX_BLOB_VALUES = 2 ** 31 - 1;

/** A net that is to run: every blob must fit in memory (a mangled shape would fail deep in an allocation). */
function checkBlobSizes(net: Net, file: string): void {
  for (const node of net.layers) {
    node.topShapes.forEach((shape, i) => {
      if (!shape) return;
      const n = shape.reduce((a, d) => a * d, 1);
      if (n > MAX_BLOB_VALUES)
        throw new ChaiqError(`layer '${node.name}' (${node.type}): top '${node.tops[i]}' of shape (${shape.join(',')}) would hold ${n} values, more than chaiq can run (2^31 − 1 per blob)`, node.loc ?? { file });
    });
  }
}

export { netInputDims } from './input-dims';

/** A loaded model: the file as read and the deploy net CHaiDNN runs. */
export interface LoadedNet {
  /** the prototxt as read (its text document, its upgraded NetParameter, the net as written) */
  model: LoadedModel;
  /** the deploy net: the model's, or a train/test net's TEST phase */
  net: Net;
  netParam: NetParam;
  /** C,H,W given (options.dims or options.inputShape) */
  dims?: [number, number, number];
  /** set when the prototxt was a train/test net */
  trainTest?: TrainTestModel;
}

/**
 * Load, then refuse NaN/Inf weights (unless `allowNonfinite`, warned) and convert a train/test net. `nonfiniteHint`
 * says how to go on anyway (the CLI names its flag).
 */
export function loadNet(opts: LoadOptions & { allowNonfinite?: boolean; nonfiniteHint?: string }): LoadedNet {
  const { model, dims } = loadModelWithDims(opts);
  checkFiniteWeights(model.graph, opts.weights, { allow: !!opts.allowNonfinite, warn: opts.warn, flag: opts.nonfiniteHint });
  const trainTest = deployOfTrainTest(model, opts.deploy, dims, opts.warn);
  return { model, net: trainTest?.net ?? model.graph, netParam: trainTest?.netParam ?? model.net, dims, trainTest };
}

/** The single input's shape; CHaiDNN (and XportDNN) need exactly one. */
export function singleInputShape(net: Net, deploy: string): number[] {
  if (net.inputs.length !== 1)
    throw new ChaiqError(`the net has ${net.inputs.length} inputs; CHaiDNN (and XportDNN) need exactly one`, { file: deploy });
  return net.inputs[0].shape;
}
