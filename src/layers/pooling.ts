import { defineLayer } from './define';
import { check, count, layerError, poolGeometry, pooledSize, bottom, fmt } from './params';
import { D_ACT, X_ACT } from './precision';
import type { LayerNode } from './types';
import { poolingForward } from './forward/pool';

/**
 * PoolingLayer::Reshape: 4-D only; ceil rounding (default) or floor; with padding the last window must
 * start inside the image. A second top (the MAX mask) has the same shape.
 */
function poolShape(node: LayerNode, bottoms: number[][]): number[][] {
  const b = bottom(node, bottoms, 0);
  check(node, b.length === 4, `input must have 4 axes (num, channels, height, width), got ${fmt(b)}`);
  const g = poolGeometry(node, b);
  const anyPad = g.pad[0] !== 0 || g.pad[1] !== 0;
  const h = pooledSize(b[2], g.kernel[0], g.stride[0], g.pad[0], g.ceil, anyPad);
  const w = pooledSize(b[3], g.kernel[1], g.stride[1], g.pad[1], g.ceil, anyPad);
  if (h <= 0 || w <= 0) throw layerError(node, `kernel larger than padded input ${fmt(b)}`);
  const top = [b[0], b[1], h, w];
  return node.tops.map(() => top.slice());
}

/** Pooling MAX / AVE / STOCHASTIC, global_pooling. */
export const pooling = defineLayer({
  type: 'Pooling',
  forward: poolingForward,
  chaidnn: 'hw',
  fixed: 'pool',
  progressive: 'bottom',
  plan: 'pass',
  /** MAX and AVE (not STOCHASTIC), once the bottom shape is known */
  channelHomogeneous(node) {
    if (!node.bottomShapes[0]) return false;
    const pool = poolGeometry(node, node.bottomShapes[0]).pool;
    return pool === 'MAX' || pool === 'AVE';
  },
  rescale: { kind: 'equivariant' },
  precision: { Xilinx: X_ACT, DynamicFixed: D_ACT },
  shape: poolShape,
  /** AVE: one accumulate per window element (kh×kw per output); MAX/STOCHASTIC: 0 (comparisons) */
  macs(node, bottoms, tops) {
    const g = poolGeometry(node, bottom(node, bottoms, 0));
    return g.pool === 'AVE' && tops[0] ? count(tops[0]) * g.kernel[0] * g.kernel[1] : 0;
  },
});
