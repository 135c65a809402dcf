import { defineLayer } from './define';
import { canonicalAxis, check, count, fail, has, num, nums, rep, sub, bottom, fmt } from './params';
import { alloc, need, type Forward } from './forward';
import type { Tensor } from '../tensor';

const sliceForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const sp = sub(node, 'slice_param');
  const axis = has(sp, 'slice_dim') && !has(sp, 'axis') ? num(sp, 'slice_dim', 1) : canonicalAxis(node, num(sp, 'axis', 1), x.shape.length);
  const dimAx = x.shape[axis];
  const nTop = node.tops.length;
  const points = nums(sp, 'slice_point');
  const sizes: number[] = [];
  if (points.length) {
    if (points.length !== nTop - 1) fail(node, `${points.length} slice_point(s) for ${nTop} tops`);
    let prev = 0;
    for (const p of points) {
      if (p <= prev && sizes.length > 0) fail(node, 'slice_point values must increase');
      sizes.push(p - prev);
      prev = p;
    }
    sizes.push(dimAx - prev);
  } else {
    if (dimAx % nTop !== 0) fail(node, `axis ${axis} size ${dimAx} not divisible into ${nTop} tops`);
    for (let i = 0; i < nTop; i++) sizes.push(dimAx / nTop);
  }
  if (sizes.some((s) => s <= 0)) fail(node, `slice points out of range for axis size ${dimAx}`);
  const outer = count(x.shape, 0, axis);
  const inner = count(x.shape, axis + 1);
  const tops: Tensor[] = [];
  let off = 0;
  for (const s of sizes) {
    const shape = [...x.shape];
    shape[axis] = s;
    const t = alloc(ctx, shape);
    for (let oo = 0; oo < outer; oo++) t.data.set(x.data.subarray((oo * dimAx + off) * inner, (oo * dimAx + off + s) * inner), oo * s * inner);
    off += s;
    tops.push(t);
  }
  return tops;
};

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
