import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** Softmax along softmax_param.axis (default 1); shape of bottom 0. */
export const softmax: LayerDef = {
  type: 'Softmax',
  forward: FORWARDS.Softmax,
  chaidnn: 'sw',
  precision: NO_PRECISION,
  shape: likeBottom,
};
