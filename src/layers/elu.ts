import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** ELU (elu_param.alpha), elementwise. */
export const elu: LayerDef = {
  type: 'ELU',
  forward: FORWARDS.ELU,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
