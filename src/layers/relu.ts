import { defineLayer } from './define';
import { likeBottom, num, sub } from './params';
import { X_RELU } from './precision';
import { allocFull, need, type Forward } from './forward';
import { fastRelu } from '../kernels/fastops';

const reluForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const s = num(sub(node, 'relu_param'), 'negative_slope', 0);
  const X = bottoms[0].data;
  const out = allocFull(ctx, [...bottoms[0].shape]);
  const Y = out.data;
  const n = X.length;
  // same values as max(x,0) + s·min(x,0); a plain loop is ~5x faster than a per-element closure
  if (s === 0) {
    if (!fastRelu(X, Y)) for (let i = 0; i < n; i++) { const v = X[i]; Y[i] = v > 0 ? v : 0; }
  }
  else for (let i = 0; i < n; i++) { const v = X[i]; Y[i] = (v > 0 ? v : 0) + s * (v < 0 ? v : 0); }
  return [out];
};

/**
 * ReLU (negative_slope for leaky). CHaiDNN fuses it into the preceding HW layer ('hw'); it is in the SW set
 * for precision purposes, but the Xilinx table still lists a block (chaidnn-semantics §3.1, §3.6).
 */
export const relu = defineLayer({
  type: 'ReLU',
  forward: reluForward,
  chaidnn: 'hw',
  fixed: 'relu',
  convFusion: 'relu',
  /** any negative_slope (leaky ReLU too) */
  channelHomogeneous: () => true,
  plan: 'producer',
  lint: { blockIgnored: true },
  rescale: { kind: 'equivariant' },
  precision: { Xilinx: X_RELU, DynamicFixed: [] },
  shape: likeBottom,
});
