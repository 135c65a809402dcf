import type { LayerDef, PlanRole } from './types';
import type { LayerNode } from './types';
import type { WarnFn } from '../errors';
import { UnknownShape } from './params';
import type { SourceFacts } from './types';
import { UNKNOWN_DATA_SOURCE } from './data';
import { absval } from './absval';
import { accuracy } from './accuracy';
import { argmax } from './argmax';
import { axpy } from './axpy';
import { batchNorm } from './batch_norm';
import { bias } from './bias';
import { bn } from './bn';
import { bnll } from './bnll';
import { concat } from './concat';
import { convolution } from './convolution';
import { crop } from './crop';
import { data, imageData, memoryData, hdf5Data, windowData, denseImageData } from './data';
import { deconvolution } from './deconvolution';
import { detectionOutput } from './detection_output';
import { dropout } from './dropout';
import { dummyData } from './dummy_data';
import { eltwise } from './eltwise';
import { elu } from './elu';
import { exp } from './exp';
import { flatten } from './flatten';
import { innerProduct } from './inner_product';
import { input } from './input';
import { interp } from './interp';
import { log } from './log';
import { lrn } from './lrn';
import { normalize } from './normalize';
import { permute } from './permute';
import { pooling } from './pooling';
import { power } from './power';
import { prelu } from './prelu';
import { priorBox } from './prior_box';
import { python } from './python';
import { relu } from './relu';
import { reshape } from './reshape';
import { scale } from './scale';
import { sigmoid } from './sigmoid';
import { silence } from './silence';
import { slice } from './slice';
import { softmax } from './softmax';
import { softmaxWithLoss } from './softmax_with_loss';
import { split } from './split';
import { tanh } from './tanh';
import { threshold } from './threshold';
import { tile } from './tile';
import { upsample } from './upsample';

const ALL: LayerDef[] = [
  input, data, imageData, memoryData, hdf5Data, windowData, denseImageData, dummyData,
  convolution, deconvolution, pooling, innerProduct, concat, eltwise, flatten, reshape, permute, priorBox,
  normalize, crop, slice, split, softmax, argmax, lrn, batchNorm, scale, bias, relu, prelu, sigmoid, tanh,
  power, dropout, detectionOutput, silence, axpy, python, elu, absval, exp, log, bnll, threshold, tile,
  upsample, interp, bn, softmaxWithLoss, accuracy,
];

const BY_TYPE = new Map<string, LayerDef>();
for (const d of ALL) {
  for (const t of [d.type, ...(d.aliases ?? [])]) {
    if (BY_TYPE.has(t)) throw new Error(`layer type ${t} registered twice`);
    BY_TYPE.set(t, d);
  }
}

/** The definition of a (V2) layer type or one of its aliases (Ristretto `ConvolutionRistretto`, ...). */
export function lookupLayer(type: string): LayerDef | undefined {
  return BY_TYPE.get(type);
}

/** Canonical type of a type string (aliases resolved); the string itself when unknown. */
export function canonicalType(type: string): string {
  return BY_TYPE.get(type)?.type ?? type;
}

export function allLayers(): LayerDef[] {
  return ALL.slice();
}

/** The float forward a type declares (aliases resolved); undefined for types without one. */
export function forwardOf(type: string): LayerDef['forward'] {
  return BY_TYPE.get(type)?.forward;
}

/**
 * Top shapes of one layer, tolerant of what cannot be known: an unknown type, an unknown bottom shape, or a
 * layer whose output shape is not in the prototxt (Python, Data) give undefined tops (with a warning for
 * the first two kinds' root causes). Impossible parameters still throw ChaiqError.
 */
export function inferTopShapes(node: LayerNode, bottoms: (number[] | undefined)[], warn?: WarnFn): (number[] | undefined)[] {
  const def = node.def ?? lookupLayer(node.type);
  if (!def) {
    warn?.(`layer '${node.name}': unknown layer type '${node.type}'; shapes downstream are unknown`, node.loc);
    return node.tops.map(() => undefined);
  }
  if (bottoms.some((b) => b === undefined)) return node.tops.map(() => undefined);
  try {
    return def.shape(node, bottoms as number[][]);
  } catch (e) {
    if (e instanceof UnknownShape) {
      warn?.(`layer '${node.name}': ${e.message}; shapes downstream are unknown`, node.loc);
      return node.tops.map((_, i) => e.partial[i]);
    }
    throw e;
  }
}

/** Layers that only exist for training (losses, Accuracy, Silence; HDF5Output, which chaiq does not define). */
export function isTrainingOnly(type: string): boolean {
  return lookupLayer(type)?.trainingOnly === true || type.endsWith('Loss') || type === 'HDF5Output';
}

/**
 * How a layer without bottoms reads data from outside the net, by its type: its declaration, or for a type
 * chaiq does not define whose name ends in Data (AnnotatedData, VideoData, ...) a Data layer's; undefined
 * for other types.
 */
export function sourceOf(type: string): SourceFacts | undefined {
  const def = lookupLayer(type);
  return def ? def.source : type.endsWith('Data') ? UNKNOWN_DATA_SOURCE : undefined;
}

/** The Input layer: the one source XportDNN and CHaiDNN take as the net input (its input_param gives every top). */
export function isInputLayer(type: string): boolean {
  return sourceOf(type)?.allTopsInputs === true;
}

/** A layer reading its input from a data source (every source but the Input layer): CHaiDNN cannot parse it. */
export function isDataSource(type: string): boolean {
  const s = sourceOf(type);
  return s !== undefined && !s.allTopsInputs;
}

/** A layer's role in the precision plan ('none' when it declares none). */
export function planRole(layer: { def?: LayerDef }): PlanRole {
  return layer.def?.plan ?? 'none';
}

/** The runtime does not rescale the layer: its input and output precision must agree (§3.3). */
export function keepsScale(role: PlanRole): boolean {
  return role === 'pass' || role === 'producer' || sharesInputs(role);
}

/** Its inputs and output share one threshold / fl (Concat, Eltwise). */
export function sharesInputs(role: PlanRole): boolean {
  return role === 'shared-output' || role === 'shared-max';
}
