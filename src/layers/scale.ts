import { defineLayer } from './define';
import { bool, canonicalAxis, check, count, num, sub, bottom, likeBottom, fmt } from './params';
import { D_SCALE, X_ACT } from './precision';
import type { LayerNode } from './types';
import { allocFull, blob, broadcastDims, need, paramShapeLen, type Forward } from './forward';
import { fastChannelAffine } from '../kernels/fastops';

const scaleForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const sp = sub(node, 'scale_param');
  const axisP = num(sp, 'axis', 1);
  let scale: Float32Array;
  let len: number;
  let biasBlobIdx: number;
  if (bottoms.length >= 2) {
    scale = bottoms[1].data;
    len = bottoms[1].shape.length;
    biasBlobIdx = 0;
  } else {
    len = paramShapeLen(node, x, axisP, num(sp, 'num_axes', 1));
    scale = blob(node, 0, 'scale').data;
    biasBlobIdx = 1;
  }
  const { outer, mid, inner } = broadcastDims(node, x, axisP, len, scale.length);
  const bias = bool(sp, 'bias_term', false) ? blob(node, biasBlobIdx, 'bias', mid).data : undefined;
  const out = allocFull(ctx, [...x.shape]);
  const X = x.data;
  const Y = out.data;
  if (fastChannelAffine(X, Y, outer, mid, inner, scale, bias ?? new Float64Array(mid), 'muladd')) return [out];
  for (let o = 0; o < outer; o++)
    for (let m = 0; m < mid; m++) {
      const s = scale[m];
      const bv = bias ? bias[m] : 0;
      const off = (o * mid + m) * inner;
      const end = off + inner;
      for (let i = off; i < end; i++) Y[i] = X[i] * s + bv;
    }
  return [out];
};

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
