import { defineLayer } from './define';
import { likeBottom } from './params';
import { unary } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { exp: M_exp } = Math;

/** Sigmoid: y = 1/(1+exp(-x)), elementwise; shape of bottom 0. */
export const sigmoid = defineLayer({
  type: 'Sigmoid',
  forward: unary(() => (x) => 1 / (1 + M_exp(-x))),
  chaidnn: 'unsupported',
  shape: likeBottom,
});
