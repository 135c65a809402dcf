import { defineLayer } from './define';
import { canonicalAxis, check, count, fail, num, sub, bottom } from './params';
import { alloc, need, type Forward } from './forward';

/** Repeat the blob `tiles` times along `axis` (each outer slice repeated whole) */
const tileForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const p = sub(node, 'tile_param');
  const axis = canonicalAxis(node, num(p, 'axis', 1), x.shape.length);
  const tiles = num(p, 'tiles', 0);
  if (!(tiles >= 1)) fail(node, 'tile_param.tiles must be >= 1');
  const shape = [...x.shape];
  shape[axis] *= tiles;
  const out = alloc(ctx, shape);
  const outer = count(x.shape, 0, axis);
  const inner = count(x.shape, axis);
  for (let o = 0; o < outer; o++) {
    const src = x.data.subarray(o * inner, (o + 1) * inner);
    for (let t = 0; t < tiles; t++) out.data.set(src, (o * tiles + t) * inner);
  }
  return [out];
};

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
