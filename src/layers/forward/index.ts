import type { LayerDef } from '../types';
import * as B from './basic';
import * as C from './conv';
import { poolingForward } from './pool';
import { detectionOutputForward, priorBoxForward } from './ssd';
import { logForward, thresholdForward, tileForward } from './extra';

/**
 * Float forwards by canonical layer type. Each src/layers/<type>.ts LayerDef points its `forward` here;
 * the executor also falls back to this table so a net runs even when a def lacks the member.
 */
export const FORWARDS: Record<string, NonNullable<LayerDef['forward']>> = {
  Convolution: C.convolutionForward,
  Deconvolution: C.deconvolutionForward,
  InnerProduct: C.innerProductForward,
  Pooling: poolingForward,
  ReLU: B.reluForward,
  PReLU: B.preluForward,
  Sigmoid: B.sigmoidForward,
  TanH: B.tanhForward,
  ELU: B.eluForward,
  AbsVal: B.absValForward,
  Exp: B.expForward,
  BNLL: B.bnllForward,
  Power: B.powerForward,
  BatchNorm: B.batchNormForward,
  Scale: B.scaleForward,
  Bias: B.biasForward,
  Eltwise: B.eltwiseForward,
  Concat: B.concatForward,
  Slice: B.sliceForward,
  Split: B.splitForward,
  Softmax: B.softmaxForward,
  Dropout: B.identityForward,
  Flatten: B.flattenForward,
  Reshape: B.reshapeForward,
  Permute: B.permuteForward,
  Normalize: B.normalizeForward,
  PriorBox: priorBoxForward,
  DetectionOutput: detectionOutputForward,
  Crop: B.cropForward,
  ArgMax: B.argMaxForward,
  LRN: B.lrnForward,
  Silence: B.silenceForward,
  Threshold: thresholdForward,
  Log: logForward,
  Tile: tileForward,
};
