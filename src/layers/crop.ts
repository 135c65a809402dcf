import { defineLayer } from './define';
import { canonicalAxis, check, num, rep, sub, bottom, fmt } from './params';
import { cropForward } from './forward/basic';

/** Crop bottom 0 to the shape of bottom 1 from axis (default 2) on, at offset(s). */
export const crop = defineLayer({
  type: 'Crop',
  forward: cropForward,
  chaidnn: 'sw',
  plan: 'pass',
  rescale: { kind: 'equivariant' },
  shape(node, bottoms) {
    const b0 = bottom(node, bottoms, 0);
    const b1 = bottom(node, bottoms, 1);
    const p = sub(node, 'crop_param');
    const start = canonicalAxis(node, num(p, 'axis', 2), b0.length);
    const offsets = rep<number>(p.offset).map(Number);
    check(node, b1.length === b0.length, `bottoms must have the same number of axes: ${fmt(b0)} vs ${fmt(b1)}`);
    if (offsets.length > 1) {
      check(node, offsets.length === b0.length - start, 'number of offset values specified must be equal to the number of dimensions following axis');
    }
    const top = b0.map((d, i) => {
      if (i < start) return d;
      const off = offsets.length === 0 ? 0 : offsets.length === 1 ? offsets[0] : offsets[i - start];
      check(node, d - off >= b1[i], `invalid crop: axis ${i} of ${fmt(b0)} at offset ${off} is smaller than ${b1[i]}`);
      return b1[i];
    });
    return node.tops.map(() => top.slice());
  },
});
