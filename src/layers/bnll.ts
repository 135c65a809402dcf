import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** BNLL: log(1+exp(x)), elementwise. */
export const bnll: LayerDef = {
  type: 'BNLL',
  forward: FORWARDS.BNLL,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
