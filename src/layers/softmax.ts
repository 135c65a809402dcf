import { defineLayer } from './define';
import { canonicalAxis, count, likeBottom, num, sub } from './params';
import { alloc, need, type Forward } from './forward';

// module-level aliases: global lookups are slow inside jest's vm context
const { exp: M_exp, max: M_max } = Math;
const NEG_INF = -Infinity;

const softmaxForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const axis = canonicalAxis(node, num(sub(node, 'softmax_param'), 'axis', 1), x.shape.length);
  const outer = count(x.shape, 0, axis);
  const ch = x.shape[axis];
  const inner = count(x.shape, axis + 1);
  const out = alloc(ctx, [...x.shape]);
  const e = new Float64Array(ch);
  for (let oo = 0; oo < outer; oo++)
    for (let i = 0; i < inner; i++) {
      const base = oo * ch * inner + i;
      let m = NEG_INF;
      for (let c = 0; c < ch; c++) m = M_max(m, x.data[base + c * inner]);
      let s = 0;
      for (let c = 0; c < ch; c++) s += e[c] = M_exp(x.data[base + c * inner] - m);
      for (let c = 0; c < ch; c++) out.data[base + c * inner] = e[c] / s;
    }
  return [out];
};

/** Softmax along softmax_param.axis (default 1); shape of bottom 0. */
export const softmax = defineLayer({
  type: 'Softmax',
  forward: softmaxForward,
  chaidnn: 'sw',
  probabilities: true,
  shape: likeBottom,
});
