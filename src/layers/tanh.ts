import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** TanH, elementwise. */
export const tanh: LayerDef = {
  type: 'TanH',
  forward: FORWARDS.TanH,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
