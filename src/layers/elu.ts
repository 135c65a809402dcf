import { defineLayer } from './define';
import { likeBottom } from './params';
import { eluForward } from './forward/basic';
/** ELU (elu_param.alpha), elementwise. */
export const elu = defineLayer({
  type: 'ELU',
  forward: eluForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
