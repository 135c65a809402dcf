import { defineLayer } from './define';
import { likeBottom } from './params';
import { softmaxForward } from './forward/basic';
/** Softmax along softmax_param.axis (default 1); shape of bottom 0. */
export const softmax = defineLayer({
  type: 'Softmax',
  forward: softmaxForward,
  chaidnn: 'sw',
  probabilities: true,
  shape: likeBottom,
});
