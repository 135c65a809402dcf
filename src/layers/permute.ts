import { defineLayer } from './define';
import { canonicalAxis, check, fail, nums, rep, sub, bottom } from './params';
import { D_ACT, X_ACT } from './precision';
import { alloc, need, view, type Forward } from './forward';

const permuteForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const nAx = x.shape.length;
  const order: number[] = [];
  for (const o of nums(sub(node, 'permute_param'), 'order')) {
    const a = canonicalAxis(node, o, nAx);
    if (order.includes(a)) fail(node, `permute order repeats axis ${a}`);
    order.push(a);
  }
  for (let i = 0; i < nAx; i++) if (!order.includes(i)) order.push(i);
  const shape = order.map((a) => x.shape[a]);
  if (order.every((a, i) => a === i)) return [view(x, shape)];
  const out = alloc(ctx, shape);
  const inStride = new Array(nAx).fill(1);
  for (let i = nAx - 2; i >= 0; i--) inStride[i] = inStride[i + 1] * x.shape[i + 1];
  const st = order.map((a) => inStride[a]);
  const idx = new Array(nAx).fill(0);
  const n = out.data.length;
  let src = 0;
  for (let i = 0; i < n; i++) {
    out.data[i] = x.data[src];
    for (let d = nAx - 1; d >= 0; d--) {
      idx[d]++;
      src += st[d];
      if (idx[d] < shape[d]) break;
      src -= st[d] * shape[d];
      idx[d] = 0;
    }
  }
  return [out];
};

/** SSD Permute: permute_param.order, axes not listed follow in their original order. */
export const permute = defineLayer({
  type: 'Permute',
  forward: permuteForward,
  chaidnn: 'sw',
  plan: 'pass',
  rescale: { kind: 'equivariant' },
  precision: { Xilinx: X_ACT, DynamicFixed: D_ACT },
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const order: number[] = [];
    for (const o of rep<number>(sub(node, 'permute_param').order).map(Number)) {
      check(node, o >= 0 && o < b.length, `order ${o} should be less than the input dimension ${b.length}`);
      check(node, !order.includes(o), `there are duplicate orders`);
      order.push(o);
    }
    for (let i = 0; i < b.length; i++) if (!order.includes(i)) order.push(i);
    const top = order.map((o) => b[o]);
    return node.tops.map(() => top.slice());
  },
});
