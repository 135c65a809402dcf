import type { LayerNode } from '../types';
import type { Tensor } from '../../tensor';
import type { ForwardContext } from '../types';
import { alloc, canonAxis, fail, need, num, pm, prod } from './util';
// module-level aliases: global lookups are slow inside jest's vm context
const { log: M_log } = Math;

type Fwd = (node: LayerNode, bottoms: Tensor[], ctx: ForwardContext) => Tensor[];

/** Threshold: 1 where x > threshold, else 0 */
export const thresholdForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const t = num(pm(node, 'threshold_param').threshold, 0);
  const out = alloc([...x.shape]);
  for (let i = 0; i < x.data.length; i++) out.data[i] = x.data[i] > t ? 1 : 0;
  return [out];
};

/** Log: log_base(shift + scale·x), base -1 = e */
export const logForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const p = pm(node, 'log_param');
  const base = num(p.base, -1);
  const scale = num(p.scale, 1);
  const shift = num(p.shift, 0);
  if (base !== -1 && !(base > 0)) fail(node, 'log_param.base must be > 0 or -1 (e)');
  const inv = base === -1 ? 1 : 1 / M_log(base);
  const out = alloc([...x.shape]);
  for (let i = 0; i < x.data.length; i++) out.data[i] = M_log(shift + scale * x.data[i]) * inv;
  return [out];
};

/** Tile: repeat the blob `tiles` times along `axis` (each outer slice repeated whole) */
export const tileForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const p = pm(node, 'tile_param');
  const axis = canonAxis(node, num(p.axis, 1), x.shape.length);
  const tiles = num(p.tiles, 0);
  if (!(tiles >= 1)) fail(node, 'tile_param.tiles must be >= 1');
  const shape = [...x.shape];
  shape[axis] *= tiles;
  const out = alloc(shape);
  const outer = prod(x.shape, 0, axis);
  const inner = prod(x.shape, axis);
  for (let o = 0; o < outer; o++) {
    const src = x.data.subarray(o * inner, (o + 1) * inner);
    for (let t = 0; t < tiles; t++) out.data.set(src, (o * tiles + t) * inner);
  }
  return [out];
};
