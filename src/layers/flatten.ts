import type { LayerDef } from './types';
import { canonicalAxis, check, count, num, sub, bottom } from './params';
import { NO_PRECISION } from './precision';
import { FORWARDS } from './forward';

/** Flatten axes [axis, end_axis] (defaults 1, -1) into one. */
export const flatten: LayerDef = {
  type: 'Flatten',
  forward: FORWARDS.Flatten,
  chaidnn: 'sw',
  rescale: { kind: 'equivariant' },
  precision: NO_PRECISION,
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const p = sub(node, 'flatten_param');
    const start = canonicalAxis(node, num(p, 'axis', 1), b.length);
    const end = canonicalAxis(node, num(p, 'end_axis', -1), b.length);
    check(node, start <= end, `axis ${start} after end_axis ${end}`);
    const top = [...b.slice(0, start), count(b, start, end + 1), ...b.slice(end + 1)];
    return node.tops.map(() => top.slice());
  },
  params: () => 0,
  macs: () => 0,
};
