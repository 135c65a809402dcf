import { defineLayer } from './define';
import { check, bottom, fmt } from './params';
import type { LayerNode } from './types';
import { priorBoxForward } from './forward/ssd';
import { priorBoxSetup } from './forward/ssd';

/** Number of priors per location (SSD PriorBoxLayer::LayerSetUp; one reading of the params with the forward). */
export function numPriors(node: LayerNode): number {
  return priorBoxSetup(node).numPriors;
}

/** SSD PriorBox: top (1, 2, H*W*num_priors*4): boxes and variances for every location of bottom 0. */
export const priorBox = defineLayer({
  type: 'PriorBox',
  forward: priorBoxForward,
  chaidnn: 'sw',
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    check(node, b.length === 4, `bottom must be 4-D, got ${fmt(b)}`);
    return [[1, 2, b[2] * b[3] * numPriors(node) * 4]];
  },
});
