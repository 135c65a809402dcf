import { defineLayer } from './define';
import { bool, canonicalAxis, check, count, num, sub, bottom, likeBottom, fmt } from './params';
import { D_SCALE, X_ACT } from './precision';
import type { LayerNode } from './types';
import { scaleForward } from './forward/basic';

/** Shape of the scale blob: bottom[axis .. axis+num_axes) (ScaleLayer::LayerSetUp); from bottom 1 when given. */
export function scaleParamShape(node: LayerNode, bottoms: number[][], paramField: string): number[] {
  const b = bottom(node, bottoms, 0);
  const p = sub(node, paramField);
  if (bottoms.length > 1) return bottoms[1].slice();
  const axis = canonicalAxis(node, num(p, 'axis', 1), b.length);
  const numAxes = num(p, 'num_axes', 1);
  check(node, numAxes >= -1, 'num_axes must be non-negative, or -1 to extend to the end of bottom[0]');
  if (numAxes >= 0) check(node, b.length >= axis + numAxes, `scale blob's shape extends past bottom[0]'s shape ${fmt(b)}`);
  return numAxes === -1 ? b.slice(axis) : b.slice(axis, axis + numAxes);
}

/** Scale: y = gamma * x (+ beta); gamma learned (C) or given as bottom 1. Same shape as bottom 0. */
export const scale = defineLayer({
  type: 'Scale',
  forward: scaleForward,
  aliases: ['ScaleRistretto'],
  chaidnn: 'hw',
  fixed: 'affine',
  plan: 'fold',
  convFusion: 'scale',
  precision: { Xilinx: X_ACT, DynamicFixed: D_SCALE },
  shape: likeBottom,
  blobShapes(node, bottoms) {
    const s = scaleParamShape(node, bottoms, 'scale_param');
    const bias = bool(sub(node, 'scale_param'), 'bias_term', false);
    const blobs = bottoms.length > 1 ? [] : [s];
    if (bias) blobs.push(s.slice());
    return blobs;
  },
  params(node, bottoms) {
    const c = count(scaleParamShape(node, bottoms, 'scale_param'));
    const bias = bool(sub(node, 'scale_param'), 'bias_term', false);
    return (bottoms.length > 1 ? 0 : c) + (bias ? c : 0);
  },
  /** one multiply per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
});
