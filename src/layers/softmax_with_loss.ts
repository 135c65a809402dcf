import type { LayerDef } from './types';
import { bottom } from './params';
import { NO_PRECISION } from './precision';

/** SoftmaxWithLoss (training only; the graph drops it): top 0 the scalar loss, optional top 1 the probabilities. */
export const softmaxWithLoss: LayerDef = {
  type: 'SoftmaxWithLoss',
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    return node.tops.map((_, i) => (i === 0 ? [] : b.slice()));
  },
  params: () => 0,
  macs: () => 0,
};
