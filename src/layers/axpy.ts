import { defineLayer } from './define';
import { check, count, bottom, fmt } from './params';

/** Axpy (SENet custom layer): y = a * x + b with a (N, C, 1, 1), x and b (N, C, H, W); shape of bottom 1. */
export const axpy = defineLayer({
  type: 'Axpy',
  chaidnn: 'unsupported',
  shape(node, bottoms) {
    const a = bottom(node, bottoms, 0);
    const x = bottom(node, bottoms, 1);
    const y = bottom(node, bottoms, 2);
    check(node, x.length === y.length && x.every((d, i) => d === y[i]), `x ${fmt(x)} and y ${fmt(y)} must have one shape`);
    check(node, a[0] === x[0] && a[1] === x[1], `scale ${fmt(a)} does not match x ${fmt(x)}`);
    return node.tops.map(() => x.slice());
  },
  macs: (node, bottoms) => count(bottom(node, bottoms, 1)),
});
