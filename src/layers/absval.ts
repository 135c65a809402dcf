import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
/** AbsVal: |x|, elementwise. */
export const absval: LayerDef = {
  type: 'AbsVal',
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
