import { defineLayer } from './define';
import { count, likeBottom, bottom, num, sub } from './params';
import { lrnForward } from './forward/basic';

/** LRN ACROSS_CHANNELS / WITHIN_CHANNEL; same shape. CHaiDNN has LRN commented out (chaidnn-semantics §3.1). */
export const lrn = defineLayer({
  type: 'LRN',
  forward: lrnForward,
  aliases: ['LRNRistretto'],
  chaidnn: 'unsupported',
  progressive: 'bottom',
  plan: 'pass',
  // the denominator k + alpha·avg(x²) is unchanged for f·x when alpha becomes alpha/f²
  rescale: {
    kind: 'equivariant',
    adjust(param, f) {
      const lp = (param.lrn_param ??= {});
      lp.alpha = Math.fround((lp.alpha ?? 1) / (f * f));
    },
  },
  shape: likeBottom,
  /** local_size squares accumulated per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)) * num(sub(node, 'lrn_param'), 'local_size', 5),
});
