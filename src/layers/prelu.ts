import type { LayerDef } from './types';
import { bool, count, likeBottom, sub, bottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';

/** PReLU: learned negative slope per channel, or one shared (a 0-axis blob in Caffe). */
export const prelu: LayerDef = {
  type: 'PReLU',
  forward: FORWARDS.PReLU,
  chaidnn: 'unsupported',
  rescale: { kind: 'equivariant' },
  precision: NO_PRECISION,
  shape: likeBottom,
  blobShapes: (node, bottoms) =>
    bool(sub(node, 'prelu_param'), 'channel_shared', false) ? [[]] : [[bottom(node, bottoms, 0)[1]]],
  params: (node, bottoms) =>
    bool(sub(node, 'prelu_param'), 'channel_shared', false) ? 1 : bottom(node, bottoms, 0)[1],
  /** one multiply per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
};
