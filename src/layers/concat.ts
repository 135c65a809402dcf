import { defineLayer } from './define';
import { canonicalAxis, check, count, fail, has, num, sub, bottom, fmt } from './params';
import { X_ACT } from './precision';
import { alloc, need, type Forward } from './forward';

const concatForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const cp = sub(node, 'concat_param');
  const s0 = bottoms[0].shape;
  const axis = has(cp, 'concat_dim') && !has(cp, 'axis') ? num(cp, 'concat_dim', 1) : canonicalAxis(node, num(cp, 'axis', 1), s0.length);
  const shape = [...s0];
  shape[axis] = 0;
  for (const b of bottoms) {
    if (b.shape.length !== s0.length || b.shape.some((d, i) => i !== axis && d !== s0[i])) {
      fail(node, `bottom shapes (${s0}) and (${b.shape}) differ outside the concat axis ${axis}`);
    }
    shape[axis] += b.shape[axis];
  }
  const out = alloc(ctx, shape);
  const outer = count(s0, 0, axis);
  const inner = count(s0, axis + 1);
  const rowOut = shape[axis] * inner;
  let offAx = 0;
  for (const b of bottoms) {
    const rowIn = b.shape[axis] * inner;
    for (let o = 0; o < outer; o++) out.data.set(b.data.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + offAx * inner);
    offAx += b.shape[axis];
  }
  return [out];
};

/** Concat along concat_param.axis (default 1) or the legacy concat_dim; all other axes must agree. */
export const concat = defineLayer({
  type: 'Concat',
  forward: concatForward,
  chaidnn: 'sw',
  fixed: 'concat',
  plan: 'shared-output',
  lint: { deletedBySoftware: true },
  rescale: { kind: 'equivariant' },
  precision: { Xilinx: X_ACT, DynamicFixed: [] },
  shape(node, bottoms) {
    const b0 = bottom(node, bottoms, 0);
    const p = sub(node, 'concat_param');
    let axis: number;
    if (has(p, 'concat_dim')) {
      axis = num(p, 'concat_dim', 1);
      check(node, axis >= 0, 'casting concat_dim from uint32 to int32 produced negative result; concat_dim must satisfy 0 <= concat_dim < 4');
      check(node, axis < b0.length, `concat_dim ${axis} out of range for ${fmt(b0)}`);
    } else {
      axis = canonicalAxis(node, num(p, 'axis', 1), b0.length);
    }
    const top = b0.slice();
    for (let i = 1; i < bottoms.length; i++) {
      const b = bottoms[i];
      check(node, b.length === b0.length, `all inputs must have the same number of axes: ${fmt(b)} vs ${fmt(b0)}`);
      for (let j = 0; j < b0.length; j++) {
        if (j === axis) continue;
        check(node, b[j] === b0[j], `all inputs must have the same shape, except at concat_axis ${axis}: ${fmt(b)} vs ${fmt(b0)}`);
      }
      top[axis] += b[axis];
    }
    return node.tops.map(() => top.slice());
  },
});
