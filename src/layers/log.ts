import { defineLayer } from './define';
import { fail, likeBottom, num, sub } from './params';
import { alloc, need, type Forward } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { log: M_log } = Math;

/** log_base(shift + scale·x), base -1 = e */
const logForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const p = sub(node, 'log_param');
  const base = num(p, 'base', -1);
  const scale = num(p, 'scale', 1);
  const shift = num(p, 'shift', 0);
  if (base !== -1 && !(base > 0)) fail(node, 'log_param.base must be > 0 or -1 (e)');
  const inv = base === -1 ? 1 : 1 / M_log(base);
  const out = alloc(ctx, [...x.shape]);
  for (let i = 0; i < x.data.length; i++) out.data[i] = M_log(shift + scale * x.data[i]) * inv;
  return [out];
};

/** Log: log_base(shift + scale*x), elementwise. */
export const log = defineLayer({
  type: 'Log',
  forward: logForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
