import { defineLayer } from './define';
import { canonicalAxis, check, has, num, rep, sub, bottom, fmt } from './params';
import { sliceForward } from './forward/basic';

/** Slice along axis (default 1, or legacy slice_dim) at slice_point(s), or into equal parts. */
export const slice = defineLayer({
  type: 'Slice',
  forward: sliceForward,
  chaidnn: 'unsupported',
  rescale: { kind: 'equivariant' },
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const p = sub(node, 'slice_param');
    const axis = has(p, 'slice_dim') ? num(p, 'slice_dim', 1) : canonicalAxis(node, num(p, 'axis', 1), b.length);
    check(node, axis >= 0 && axis < b.length, `slice axis ${axis} out of range for ${fmt(b)}`);
    const points = rep<number>(p.slice_point).map(Number);
    const nTop = node.tops.length;
    const dim = b[axis];
    let sizes: number[];
    if (points.length > 0) {
      check(node, points.length === nTop - 1, `${points.length} slice points need ${points.length + 1} tops, got ${nTop}`);
      check(node, nTop <= dim, `cannot slice ${dim} into ${nTop} parts`);
      sizes = [];
      let prev = 0;
      for (const pt of points) {
        check(node, pt > prev, 'slice points must increase');
        sizes.push(pt - prev);
        prev = pt;
      }
      check(node, dim - prev > 0, `slice point ${prev} beyond axis size ${dim}`);
      sizes.push(dim - prev);
    } else {
      check(node, dim % nTop === 0, `number of tops (${nTop}) should evenly divide input dimension (${dim})`);
      sizes = new Array(nTop).fill(dim / nTop);
    }
    return sizes.map((s) => {
      const t = b.slice();
      t[axis] = s;
      return t;
    });
  },
});
