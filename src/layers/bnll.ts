import { defineLayer } from './define';
import { likeBottom } from './params';
import { bnllForward } from './forward/basic';
/** BNLL: log(1+exp(x)), elementwise. */
export const bnll = defineLayer({
  type: 'BNLL',
  forward: bnllForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
