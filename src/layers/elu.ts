import { defineLayer } from './define';
import { likeBottom, num, sub } from './params';
import { unary } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { exp: M_exp } = Math;

const eluForward = unary((node) => {
  const a = num(sub(node, 'elu_param'), 'alpha', 1);
  return (x) => (x > 0 ? x : a * (M_exp(x) - 1));
});

/** ELU (elu_param.alpha), elementwise. */
export const elu = defineLayer({
  type: 'ELU',
  forward: eluForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
