import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** Sigmoid: y = 1/(1+exp(-x)), elementwise; shape of bottom 0. */
export const sigmoid: LayerDef = {
  type: 'Sigmoid',
  forward: FORWARDS.Sigmoid,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
