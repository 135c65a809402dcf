import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
/** Exp: base^(shift + scale*x), elementwise. */
export const exp: LayerDef = {
  type: 'Exp',
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
