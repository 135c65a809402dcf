import { defineLayer } from './define';
import { count, likeBottom, num, sub } from './params';
import { scaleParamShape } from './scale';
import { alloc, blob, broadcastDims, need, paramShapeLen, type Forward } from './forward';

const biasForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const bp = sub(node, 'bias_param');
  const axisP = num(bp, 'axis', 1);
  let bias: Float32Array;
  let len: number;
  if (bottoms.length >= 2) {
    bias = bottoms[1].data;
    len = bottoms[1].shape.length;
  } else {
    len = paramShapeLen(node, x, axisP, num(bp, 'num_axes', 1));
    bias = blob(node, 0, 'bias').data;
  }
  const { outer, mid, inner } = broadcastDims(node, x, axisP, len, bias.length);
  const out = alloc(ctx, [...x.shape]);
  const X = x.data;
  const Y = out.data;
  for (let o = 0; o < outer; o++)
    for (let m = 0; m < mid; m++) {
      const off = (o * mid + m) * inner;
      const end = off + inner;
      const bv = bias[m];
      for (let i = off; i < end; i++) Y[i] = X[i] + bv;
    }
  return [out];
};

/** Bias: y = x + b; b learned (bottom[axis..axis+num_axes)) or given as bottom 1. */
export const bias = defineLayer({
  type: 'Bias',
  forward: biasForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
  blobShapes: (node, bottoms) => (bottoms.length > 1 ? [] : [scaleParamShape(node, bottoms, 'bias_param')]),
  params: (node, bottoms) => (bottoms.length > 1 ? 0 : count(scaleParamShape(node, bottoms, 'bias_param'))),
});
