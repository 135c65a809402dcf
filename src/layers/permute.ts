import { defineLayer } from './define';
import { check, rep, sub, bottom } from './params';
import { D_ACT, X_ACT } from './precision';
import { permuteForward } from './forward/basic';

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
