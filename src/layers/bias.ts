import type { LayerDef } from './types';
import { count, likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { scaleParamShape } from './scale';
import { FORWARDS } from './forward';

/** Bias: y = x + b; b learned (bottom[axis..axis+num_axes)) or given as bottom 1. */
export const bias: LayerDef = {
  type: 'Bias',
  forward: FORWARDS.Bias,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
  blobShapes: (node, bottoms) => (bottoms.length > 1 ? [] : [scaleParamShape(node, bottoms, 'bias_param')]),
  params: (node, bottoms) => (bottoms.length > 1 ? 0 : count(scaleParamShape(node, bottoms, 'bias_param'))),
  macs: () => 0,
};
