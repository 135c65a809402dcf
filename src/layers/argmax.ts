import { defineLayer } from './define';
import { bool, canonicalAxis, check, count, has, num, sub, bottom } from './params';
import { argMaxForward } from './forward/basic';

/** ArgMax (ArgMaxLayer::Reshape): with axis, shape[axis] = top_k; else (N, 1 or 2, top_k, 1...) with ≥3 axes. */
export const argmax = defineLayer({
  type: 'ArgMax',
  forward: argMaxForward,
  chaidnn: 'sw',
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const p = sub(node, 'argmax_param');
    const topK = num(p, 'top_k', 1);
    check(node, topK >= 1, 'top_k must be >= 1');
    let top: number[];
    if (has(p, 'axis')) {
      const axis = canonicalAxis(node, num(p, 'axis', 0), b.length);
      check(node, topK <= b[axis], 'top_k must be less than or equal to the dimension of the axis');
      top = b.slice();
      top[axis] = topK;
    } else {
      check(node, topK <= count(b, 1), 'top_k must be less than or equal to the number of classes');
      top = new Array(Math.max(3, b.length)).fill(1);
      top[0] = b[0];
      top[2] = topK;
      if (bool(p, 'out_max_val', false)) top[1] = 2;
    }
    return node.tops.map(() => top.slice());
  },
});
