import { defineLayer } from './define';
import { count, likeBottom, bottom, num, sub } from './params';
import { unary } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { pow: M_pow } = Math;

const powerForward = unary((node) => {
  const p = sub(node, 'power_param');
  const power = num(p, 'power', 1);
  const scale = num(p, 'scale', 1);
  const shift = num(p, 'shift', 0);
  return (x) => M_pow(shift + scale * x, power);
});

/** Power: y = (shift + scale*x)^power. */
export const power = defineLayer({
  type: 'Power',
  forward: powerForward,
  chaidnn: 'sw',
  shape: likeBottom,
  /** one multiply-add per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
});
