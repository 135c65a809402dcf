import { defineLayer } from './define';
import { count, likeBottom, bottom } from './params';

/** BN (SegNet/ENet fork): batch norm with a built-in scale and shift (1, C, 1, 1) each. Same shape. */
export const bn = defineLayer({
  type: 'BN',
  chaidnn: 'unsupported',
  shape: likeBottom,
  params: (node, bottoms) => 2 * bottom(node, bottoms, 0)[1],
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
});
