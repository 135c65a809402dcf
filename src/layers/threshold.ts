import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
/** Threshold: x > threshold ? 1 : 0, elementwise. */
export const threshold: LayerDef = {
  type: 'Threshold',
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
