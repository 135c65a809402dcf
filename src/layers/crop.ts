import { defineLayer } from './define';
import { canonicalAxis, check, fail, num, nums, rep, sub, bottom, fmt } from './params';
import { alloc, need, type Forward } from './forward';

const cropForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 2);
  const [x, ref] = bottoms;
  const cp = sub(node, 'crop_param');
  const nAx = x.shape.length;
  const axis = canonicalAxis(node, num(cp, 'axis', 2), nAx);
  const offs = nums(cp, 'offset');
  if (offs.length > 1 && offs.length !== nAx - axis) fail(node, `crop offset has ${offs.length} values, expected 1 or ${nAx - axis}`);
  const shape = [...x.shape];
  const off = new Array(nAx).fill(0);
  for (let i = axis; i < nAx; i++) {
    shape[i] = ref.shape[i];
    off[i] = offs.length === 0 ? 0 : offs.length === 1 ? offs[0] : offs[i - axis];
    if (off[i] + shape[i] > x.shape[i]) fail(node, `crop of axis ${i} (offset ${off[i]} + ${shape[i]}) exceeds bottom size ${x.shape[i]}`);
  }
  const out = alloc(ctx, shape);
  const inStride = new Array(nAx).fill(1);
  for (let i = nAx - 2; i >= 0; i--) inStride[i] = inStride[i + 1] * x.shape[i + 1];
  const last = shape[nAx - 1];
  const rows = out.data.length / last;
  const idx = new Array(nAx - 1).fill(0);
  for (let r = 0; r < rows; r++) {
    let src = off[nAx - 1];
    for (let d = 0; d < nAx - 1; d++) src += (idx[d] + off[d]) * inStride[d];
    out.data.set(x.data.subarray(src, src + last), r * last);
    for (let d = nAx - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return [out];
};

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
