import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** Exp: base^(shift + scale*x), elementwise. */
export const exp: LayerDef = {
  type: 'Exp',
  forward: FORWARDS.Exp,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
