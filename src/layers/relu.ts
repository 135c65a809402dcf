import { defineLayer } from './define';
import { likeBottom } from './params';
import { X_RELU } from './precision';
import { reluForward } from './forward/basic';

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
