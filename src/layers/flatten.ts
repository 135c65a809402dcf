import { defineLayer } from './define';
import { canonicalAxis, check, count, num, sub, bottom } from './params';
import { need, view, type Forward } from './forward';

const flattenForward: Forward = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const fp = sub(node, 'flatten_param');
  const a = canonicalAxis(node, num(fp, 'axis', 1), x.shape.length);
  const e = canonicalAxis(node, num(fp, 'end_axis', -1), x.shape.length);
  return [view(x, [...x.shape.slice(0, a), count(x.shape, a, e + 1), ...x.shape.slice(e + 1)])];
};

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
