import type { LayerDef } from './types';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';

/** Silence: consumes its bottoms, writes nothing. */
export const silence: LayerDef = {
  type: 'Silence',
  forward: FORWARDS.Silence,
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape: (node) => node.tops.map(() => []),
  params: () => 0,
  macs: () => 0,
};
