import { defineLayer } from './define';
import { likeBottom } from './params';
import { need, type Forward } from './forward';

const splitForward: Forward = (node, bottoms) => {
  need(node, bottoms, 1);
  return node.tops.map(() => bottoms[0]);
};

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
