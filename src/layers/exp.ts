import { defineLayer } from './define';
import { likeBottom } from './params';
import { expForward } from './forward/basic';
/** Exp: base^(shift + scale*x), elementwise. */
export const exp = defineLayer({
  type: 'Exp',
  forward: expForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
