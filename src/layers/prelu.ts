import { defineLayer } from './define';
import { bool, count, likeBottom, sub, bottom } from './params';
import { preluForward } from './forward/basic';

/** PReLU: learned negative slope per channel, or one shared (a 0-axis blob in Caffe). */
export const prelu = defineLayer({
  type: 'PReLU',
  forward: preluForward,
  chaidnn: 'unsupported',
  rescale: { kind: 'equivariant' },
  shape: likeBottom,
  blobShapes: (node, bottoms) =>
    bool(sub(node, 'prelu_param'), 'channel_shared', false) ? [[]] : [[bottom(node, bottoms, 0)[1]]],
  params: (node, bottoms) =>
    bool(sub(node, 'prelu_param'), 'channel_shared', false) ? 1 : bottom(node, bottoms, 0)[1],
  /** one multiply per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
});
