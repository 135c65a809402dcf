import { defineLayer } from './define';
import { bool, count, likeBottom, sub, bottom } from './params';
import { X_PARAMS } from './precision';
import { normalizeForward } from './forward/basic';

/** SSD Normalize (L2 over channels, then a learned scale: 1 value if channel_shared, else C). */
export const normalize = defineLayer({
  type: 'Normalize',
  forward: normalizeForward,
  aliases: ['NormalizeRistretto'],
  chaidnn: 'sw',
  plan: 'none',
  thParams: 'abs',
  precision: { Xilinx: X_PARAMS, DynamicFixed: [] },
  shape: likeBottom,
  /** channel_shared: a 0-axis (scalar) blob, as SSD's NormalizeLayer::LayerSetUp makes it */
  blobShapes(node, bottoms) {
    const shared = bool(sub(node, 'norm_param'), 'channel_shared', true);
    return [shared ? [] : [bottom(node, bottoms, 0)[1]]];
  },
  params(node, bottoms) {
    return bool(sub(node, 'norm_param'), 'channel_shared', true) ? 1 : bottom(node, bottoms, 0)[1];
  },
  /** one multiply-add per element for the sum of squares, one multiply for the scale */
  macs: (node, bottoms) => 2 * count(bottom(node, bottoms, 0)),
});
