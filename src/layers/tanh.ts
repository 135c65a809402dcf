import { defineLayer } from './define';
import { likeBottom } from './params';
import { tanhForward } from './forward/basic';
/** TanH, elementwise. */
export const tanh = defineLayer({
  type: 'TanH',
  forward: tanhForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
