import { defineLayer } from './define';
import { likeBottom } from './params';
import { need, type Forward } from './forward';

const identityForward: Forward = (node, bottoms) => {
  need(node, bottoms, 1);
  return [bottoms[0]];
};

/** Dropout: identity at test time (Caffe scales during training). */
export const dropout = defineLayer({
  type: 'Dropout',
  forward: identityForward,
  chaidnn: 'sw',
  progressive: 'bottom',
  plan: 'pass',
  keepsValues: true,
  rescale: { kind: 'equivariant' },
  shape: likeBottom,
});
