import { defineLayer } from './define';
import { likeBottom } from './params';
import { unary } from './forward';

// module-level aliases: global lookups are slow inside jest's vm context
const { exp: M_exp, log: M_log } = Math;

/** BNLL: log(1+exp(x)), elementwise. */
export const bnll = defineLayer({
  type: 'BNLL',
  forward: unary(() => (x) => (x > 0 ? x + M_log(1 + M_exp(-x)) : M_log(1 + M_exp(x)))),
  chaidnn: 'unsupported',
  shape: likeBottom,
});
