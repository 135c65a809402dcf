import { defineLayer } from './define';
import { canonicalAxis, num, sub, bottom } from './params';

/** Accuracy (evaluation only; the graph drops it): top 0 a scalar, optional top 1 per-class accuracy. */
export const accuracy = defineLayer({
  type: 'Accuracy',
  chaidnn: 'unsupported',
  trainingOnly: true,
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const axis = canonicalAxis(node, num(sub(node, 'accuracy_param'), 'axis', 1), b.length);
    return node.tops.map((_, i) => (i === 0 ? [] : [b[axis]]));
  },
});
