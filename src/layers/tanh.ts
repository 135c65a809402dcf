import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
/** TanH, elementwise. */
export const tanh: LayerDef = {
  type: 'TanH',
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
