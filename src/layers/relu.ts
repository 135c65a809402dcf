import type { LayerDef } from './types';
import { likeBottom } from './params';
import { X_RELU } from './precision';
import { FORWARDS } from './forward';

/**
 * ReLU (negative_slope for leaky). CHaiDNN fuses it into the preceding HW layer ('hw'); it is in the SW set
 * for precision purposes, but the Xilinx table still lists a block (chaidnn-semantics §3.1, §3.6).
 */
export const relu: LayerDef = {
  type: 'ReLU',
  forward: FORWARDS.ReLU,
  chaidnn: 'hw',
  fixed: 'relu',
  rescale: { kind: 'equivariant' },
  precision: { Xilinx: X_RELU, DynamicFixed: [] },
  shape: likeBottom,
  params: () => 0,
  macs: () => 0,
};
