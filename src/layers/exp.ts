import { defineLayer } from './define';
import { fail, likeBottom, num, sub } from './params';
import { unary } from './forward';

// module-level aliases: global lookups are slow inside jest's vm context
const { exp: M_exp, log: M_log } = Math;

const expForward = unary((node) => {
  const p = sub(node, 'exp_param');
  const base = num(p, 'base', -1);
  const scale = num(p, 'scale', 1);
  const shift = num(p, 'shift', 0);
  if (base !== -1 && !(base > 0)) fail(node, 'exp_param.base must be > 0 or -1 (e)');
  const lnb = base === -1 ? 1 : M_log(base);
  return (x) => M_exp(lnb * (shift + scale * x));
});

/** Exp: base^(shift + scale*x), elementwise. */
export const exp = defineLayer({
  type: 'Exp',
  forward: expForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
