import { defineLayer } from './define';
import { bool, count, likeBottom, sub, bottom } from './params';
import { alloc, blob, need, type Forward } from './forward';

const preluForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const shared = bool(sub(node, 'prelu_param'), 'channel_shared', false);
  const c = x.shape.length >= 2 ? x.shape[1] : 1;
  const slope = blob(node, 0, 'slopes', shared ? 1 : c).data;
  const n = x.shape[0];
  const dim = count(x.shape, 2);
  const out = alloc(ctx, [...x.shape]);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const a = slope[shared ? 0 : ch];
      const off = (b * c + ch) * dim;
      for (let i = off; i < off + dim; i++) {
        const v = x.data[i];
        out.data[i] = v > 0 ? v : a * v;
      }
    }
  return [out];
};

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
