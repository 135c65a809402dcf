import { defineLayer } from './define';
import { likeBottom } from './params';
import { unary } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { tanh: M_tanh } = Math;

/** TanH, elementwise. */
export const tanh = defineLayer({
  type: 'TanH',
  forward: unary(() => (x) => M_tanh(x)),
  chaidnn: 'unsupported',
  shape: likeBottom,
});
