import type { LayerDef } from './types';
import { count, likeBottom, bottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';

/** Power: y = (shift + scale*x)^power. */
export const power: LayerDef = {
  type: 'Power',
  forward: FORWARDS.Power,
  chaidnn: 'sw',
  precision: NO_PRECISION,
  shape: likeBottom,
  params: () => 0,
  /** one multiply-add per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
};
