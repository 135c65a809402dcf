import { defineLayer } from './define';
import { count, likeBottom, bottom } from './params';
import { powerForward } from './forward/basic';

/** Power: y = (shift + scale*x)^power. */
export const power = defineLayer({
  type: 'Power',
  forward: powerForward,
  chaidnn: 'sw',
  shape: likeBottom,
  /** one multiply-add per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
});
