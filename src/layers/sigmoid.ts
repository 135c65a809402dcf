import { defineLayer } from './define';
import { likeBottom } from './params';
import { sigmoidForward } from './forward/basic';
/** Sigmoid: y = 1/(1+exp(-x)), elementwise; shape of bottom 0. */
export const sigmoid = defineLayer({
  type: 'Sigmoid',
  forward: sigmoidForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
