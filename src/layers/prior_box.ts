import type { LayerDef } from './types';
import { bool, check, rep, sub, bottom, fmt } from './params';
import { NO_PRECISION } from './precision';
import type { LayerNode } from '../graph/types';
import { FORWARDS } from './forward';

/** Number of priors per location (SSD PriorBoxLayer::LayerSetUp). */
export function numPriors(node: LayerNode): number {
  const p = sub(node, 'prior_box_param');
  const minSizes = rep<number>(p.min_size).map(Number);
  const maxSizes = rep<number>(p.max_size).map(Number);
  check(node, minSizes.length > 0, 'must provide min_size');
  const flip = bool(p, 'flip', true);
  const ars = [1];
  for (const ar of rep<number>(p.aspect_ratio).map(Number)) {
    if (ars.some((a) => Math.abs(ar - a) < 1e-6)) continue;
    ars.push(ar);
    if (flip) ars.push(1 / ar);
  }
  if (maxSizes.length > 0) check(node, maxSizes.length === minSizes.length, 'max_size must be given once per min_size');
  return ars.length * minSizes.length + maxSizes.length;
}

/** SSD PriorBox: top (1, 2, H*W*num_priors*4): boxes and variances for every location of bottom 0. */
export const priorBox: LayerDef = {
  type: 'PriorBox',
  forward: FORWARDS.PriorBox,
  chaidnn: 'sw',
  precision: NO_PRECISION,
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    check(node, b.length === 4, `bottom must be 4-D, got ${fmt(b)}`);
    return [[1, 2, b[2] * b[3] * numPriors(node) * 4]];
  },
  params: () => 0,
  macs: () => 0,
};
