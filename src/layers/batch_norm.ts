import { defineLayer } from './define';
import { count, likeBottom, bottom } from './params';
import { D_BATCHNORM, X_ACT } from './precision';
import { batchNormForward } from './forward/basic';

/** BatchNorm: mean (C), variance (C), moving-average factor (1). Same shape. */
export const batchNorm = defineLayer({
  type: 'BatchNorm',
  forward: batchNormForward,
  aliases: ['BatchNormRistretto'],
  chaidnn: 'hw',
  fixed: 'affine',
  plan: 'fold',
  convFusion: 'batchnorm',
  precision: { Xilinx: X_ACT, DynamicFixed: D_BATCHNORM },
  shape: likeBottom,
  blobShapes: (node, bottoms) => {
    const c = bottom(node, bottoms, 0).length > 1 ? bottom(node, bottoms, 0)[1] : 1;
    return [[c], [c], [1]];
  },
  params: (node, bottoms) => {
    const b = bottom(node, bottoms, 0);
    return 2 * (b.length > 1 ? b[1] : 1) + 1;
  },
  /** one multiply per element (x - mean) * inv_std */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
});
