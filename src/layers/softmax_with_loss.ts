import { defineLayer } from './define';
import { bottom } from './params';

/** SoftmaxWithLoss (training only; the graph drops it): top 0 the scalar loss, optional top 1 the probabilities. */
export const softmaxWithLoss = defineLayer({
  type: 'SoftmaxWithLoss',
  chaidnn: 'unsupported',
  trainingOnly: true,
  deployAs: { type: 'Softmax', keep: ['softmax_param'] },
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    return node.tops.map((_, i) => (i === 0 ? [] : b.slice()));
  },
});
