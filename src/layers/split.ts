import { defineLayer } from './define';
import { likeBottom } from './params';
import { splitForward } from './forward/basic';

/** Split: every top shares bottom 0 (Caffe inserts these for blobs read by several layers). */
export const split = defineLayer({
  type: 'Split',
  forward: splitForward,
  chaidnn: 'sw',
  plan: 'pass',
  keepsValues: true,
  rescale: { kind: 'equivariant' },
  shape: likeBottom,
});
