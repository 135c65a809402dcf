import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** Log: log_base(shift + scale*x), elementwise. */
export const log: LayerDef = {
  type: 'Log',
  forward: FORWARDS.Log,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
