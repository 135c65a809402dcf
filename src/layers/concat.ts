import { defineLayer } from './define';
import { canonicalAxis, check, has, num, sub, bottom, fmt } from './params';
import { X_ACT } from './precision';
import { concatForward } from './forward/basic';

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
