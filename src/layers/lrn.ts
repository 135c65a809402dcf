import type { LayerDef } from './types';
import { count, likeBottom, bottom, num, sub } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';

/** LRN ACROSS_CHANNELS / WITHIN_CHANNEL; same shape. CHaiDNN has LRN commented out (chaidnn-semantics §3.1). */
export const lrn: LayerDef = {
  type: 'LRN',
  forward: FORWARDS.LRN,
  aliases: ['LRNRistretto'],
  chaidnn: 'unsupported',
  // the denominator k + alpha·avg(x²) is unchanged for f·x when alpha becomes alpha/f²
  rescale: {
    kind: 'equivariant',
    adjust(param, f) {
      const lp = (param.lrn_param ??= {});
      lp.alpha = Math.fround((lp.alpha ?? 1) / (f * f));
    },
  },
  precision: NO_PRECISION,
  shape: likeBottom,
  params: () => 0,
  /** local_size squares accumulated per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)) * num(sub(node, 'lrn_param'), 'local_size', 5),
};
