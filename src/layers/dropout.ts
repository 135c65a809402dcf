import { defineLayer } from './define';
import { likeBottom } from './params';
import { identityForward } from './forward/basic';
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
