import { defineLayer } from './define';
import { count, likeBottom } from './params';
import { scaleParamShape } from './scale';
import { biasForward } from './forward/basic';

/** Bias: y = x + b; b learned (bottom[axis..axis+num_axes)) or given as bottom 1. */
export const bias = defineLayer({
  type: 'Bias',
  forward: biasForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
  blobShapes: (node, bottoms) => (bottoms.length > 1 ? [] : [scaleParamShape(node, bottoms, 'bias_param')]),
  params: (node, bottoms) => (bottoms.length > 1 ? 0 : count(scaleParamShape(node, bottoms, 'bias_param'))),
});
