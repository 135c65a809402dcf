import { defineLayer } from './define';
import { canonicalAxis, check, count, num, sub, bottom } from './params';
import { flattenForward } from './forward/basic';

/** Flatten axes [axis, end_axis] (defaults 1, -1) into one. */
export const flatten = defineLayer({
  type: 'Flatten',
  forward: flattenForward,
  chaidnn: 'sw',
  plan: 'pass',
  keepsValues: true,
  rescale: { kind: 'equivariant' },
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const p = sub(node, 'flatten_param');
    const start = canonicalAxis(node, num(p, 'axis', 1), b.length);
    const end = canonicalAxis(node, num(p, 'end_axis', -1), b.length);
    check(node, start <= end, `axis ${start} after end_axis ${end}`);
    const top = [...b.slice(0, start), count(b, start, end + 1), ...b.slice(end + 1)];
    return node.tops.map(() => top.slice());
  },
});
