import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** Threshold: x > threshold ? 1 : 0, elementwise. */
export const threshold: LayerDef = {
  type: 'Threshold',
  forward: FORWARDS.Threshold,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: likeBottom,
};
