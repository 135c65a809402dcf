import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** AbsVal: |x|, elementwise. */
export const absval: LayerDef = {
  type: 'AbsVal',
  forward: FORWARDS.AbsVal,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
