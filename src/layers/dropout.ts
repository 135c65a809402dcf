import type { LayerDef } from './types';
import { likeBottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';
/** Dropout: identity at test time (Caffe scales during training). */
export const dropout: LayerDef = {
  type: 'Dropout',
  forward: FORWARDS.Dropout,
  chaidnn: 'sw',
  rescale: { kind: 'equivariant' },
  precision: NO_PRECISION,
  shape: likeBottom,
};
