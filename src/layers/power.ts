import type { LayerDef } from './types';
import { count, likeBottom, bottom } from './params';
import { NO_PRECISION } from './precision';

/** Power: y = (shift + scale*x)^power. */
export const power: LayerDef = {
  type: 'Power',
  chaidnn: 'sw',
  precision: NO_PRECISION,
  shape: likeBottom,
  params: () => 0,
  /** one multiply-add per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
};
