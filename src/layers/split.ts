import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';

/** Split: every top shares bottom 0 (Caffe inserts these for blobs read by several layers). */
export const split: LayerDef = {
  type: 'Split',
  forward: FORWARDS.Split,
  chaidnn: 'sw',
  rescale: { kind: 'equivariant' },
  precision: NO_PRECISION,
  shape: likeBottom,
  params: () => 0,
  macs: () => 0,
};
