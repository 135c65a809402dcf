import { defineLayer } from './define';
import { likeBottom, num, sub } from './params';
import { alloc, need, type Forward } from './forward';

/** 1 where x > threshold, else 0 */
const thresholdForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const t = num(sub(node, 'threshold_param'), 'threshold', 0);
  const out = alloc(ctx, [...x.shape]);
  for (let i = 0; i < x.data.length; i++) out.data[i] = x.data[i] > t ? 1 : 0;
  return [out];
};

/** Threshold: x > threshold ? 1 : 0, elementwise. */
export const threshold = defineLayer({
  type: 'Threshold',
  forward: thresholdForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
