import type { LayerDef } from './types';
import { canonicalAxis, num, sub, bottom } from './params';
import { NO_PRECISION } from './precision';

/** Accuracy (evaluation only; the graph drops it): top 0 a scalar, optional top 1 per-class accuracy. */
export const accuracy: LayerDef = {
  type: 'Accuracy',
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const axis = canonicalAxis(node, num(sub(node, 'accuracy_param'), 'axis', 1), b.length);
    return node.tops.map((_, i) => (i === 0 ? [] : [b[axis]]));
  },
  params: () => 0,
  macs: () => 0,
};
