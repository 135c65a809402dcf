import { defineLayer } from './define';
import { bool, canonicalAxis, check, count, fail, has, num, sub, bottom } from './params';
import { alloc, need, type Forward } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { max: M_max } = Math;

const argMaxForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const ap = sub(node, 'argmax_param');
  const outMax = bool(ap, 'out_max_val', false);
  const topK = num(ap, 'top_k', 1);
  const hasAxis = has(ap, 'axis');
  const nAx = x.shape.length;
  let outer: number, dim: number, inner: number;
  let shape: number[];
  if (hasAxis) {
    const a = canonicalAxis(node, num(ap, 'axis', 0), nAx);
    outer = count(x.shape, 0, a);
    dim = x.shape[a];
    inner = count(x.shape, a + 1);
    shape = [...x.shape];
    shape[a] = topK;
  } else {
    outer = x.shape[0];
    dim = x.data.length / outer;
    inner = 1;
    shape = new Array(M_max(3, nAx)).fill(1);
    shape[0] = outer;
    shape[2] = topK;
    if (outMax) shape[1] = 2;
  }
  if (topK < 1 || topK > dim) fail(node, `top_k ${topK} must be in [1, ${dim}]`);
  const out = alloc(ctx, shape);
  const pairs: [number, number][] = new Array(dim);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      for (let j = 0; j < dim; j++) pairs[j] = [x.data[(o * dim + j) * inner + i], j];
      // std::greater on (value, index) pairs: larger value first, ties → larger index first
      pairs.sort((a, b) => b[0] - a[0] || b[1] - a[1]);
      for (let k = 0; k < topK; k++) {
        if (hasAxis) out.data[(o * topK + k) * inner + i] = outMax ? pairs[k][0] : pairs[k][1];
        else if (outMax) {
          out.data[o * 2 * topK + k] = pairs[k][1];
          out.data[o * 2 * topK + topK + k] = pairs[k][0];
        } else out.data[o * topK + k] = pairs[k][1];
      }
    }
  return [out];
};

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
