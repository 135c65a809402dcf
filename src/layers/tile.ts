import { defineLayer } from './define';
import { canonicalAxis, check, num, sub, bottom } from './params';
import { tileForward } from './forward/extra';

/** Tile: shape[axis] *= tiles. */
export const tile = defineLayer({
  type: 'Tile',
  forward: tileForward,
  chaidnn: 'unsupported',
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const p = sub(node, 'tile_param');
    const axis = canonicalAxis(node, num(p, 'axis', 1), b.length);
    const tiles = num(p, 'tiles', 0);
    check(node, tiles > 0, 'number of tiles must be positive');
    const top = b.slice();
    top[axis] *= tiles;
    return node.tops.map(() => top.slice());
  },
});
