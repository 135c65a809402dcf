import { defineLayer } from './define';
import { check, count, fail, num, nums, rep, sub, bottom, fmt } from './params';
import { need, view, type Forward } from './forward';

const reshapeForward: Forward = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const rp = sub(node, 'reshape_param');
  const dims = nums(rp.shape, 'dim');
  const nAx = x.shape.length;
  const axisP = num(rp, 'axis', 0);
  const start = axisP < 0 ? nAx + axisP + 1 : axisP;
  if (start < 0 || start > nAx) fail(node, `reshape axis ${axisP} out of range`);
  const numAxes = num(rp, 'num_axes', -1);
  const end = numAxes === -1 ? nAx : start + numAxes;
  if (end > nAx) fail(node, 'reshape num_axes out of range');
  const mid: number[] = [];
  let infer = -1;
  dims.forEach((d, i) => {
    if (d === 0) {
      if (start + i >= nAx) fail(node, `dim ${i} is 0 (copy) but the bottom has no axis ${start + i}`);
      mid.push(x.shape[start + i]);
    } else if (d === -1) {
      if (infer >= 0) fail(node, 'at most one -1 in reshape_param.shape');
      infer = mid.length;
      mid.push(1);
    } else mid.push(d);
  });
  const shape = [...x.shape.slice(0, start), ...mid, ...x.shape.slice(end)];
  const known = count(shape);
  if (infer >= 0) {
    if (known === 0 || x.data.length % known !== 0) fail(node, `cannot infer -1: ${x.data.length} values into (${shape})`);
    shape[start + infer] = x.data.length / known;
  }
  if (count(shape) !== x.data.length) fail(node, `cannot reshape (${x.shape}) to (${shape})`);
  return [view(x, shape)];
};

/** Reshape (ReshapeLayer::LayerSetUp/Reshape): 0 copies a bottom dim, one -1 is inferred; axis/num_axes select the replaced range. */
export const reshape = defineLayer({
  type: 'Reshape',
  forward: reshapeForward,
  chaidnn: 'sw',
  plan: 'pass',
  keepsValues: true,
  rescale: { kind: 'equivariant' },
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const p = sub(node, 'reshape_param');
    const dims = rep<number>(p.shape?.dim).map(Number);
    const copyAxes: number[] = [];
    let inferred = -1;
    let constantCount = 1;
    dims.forEach((d, i) => {
      if (d === 0) copyAxes.push(i);
      else if (d === -1) {
        check(node, inferred === -1, 'new shape contains multiple -1 dims');
        inferred = i;
      } else {
        check(node, d > 0, `bad shape dim ${d}`);
        constantCount *= d;
      }
    });
    const inputStart = num(p, 'axis', 0);
    const start = inputStart >= 0 ? inputStart : b.length + inputStart + 1;
    check(node, start >= 0 && start <= b.length, `axis ${inputStart} out of range for ${fmt(b)}`);
    const numAxes = num(p, 'num_axes', -1);
    check(node, numAxes >= -1, 'num_axes must be >= 0, or -1 for all');
    const end = numAxes === -1 ? b.length : start + numAxes;
    check(node, end <= b.length, `end_axis = axis + num_axes is out of range for ${fmt(b)}`);
    const top = [...b.slice(0, start), ...dims, ...b.slice(end)];
    for (const c of copyAxes) {
      check(node, start + c < b.length, `new shape contains a 0, but there was no corresponding bottom axis to copy`);
      top[start + c] = b[start + c];
    }
    if (inferred >= 0) {
      let explicit = constantCount * count(b, 0, start) * count(b, end);
      for (const c of copyAxes) explicit *= top[start + c];
      check(node, explicit > 0 && count(b) % explicit === 0,
        `bottom count ${count(b)} not divisible by the product of the specified dimensions (${explicit})`);
      top[start + inferred] = count(b) / explicit;
    }
    check(node, count(top) === count(b), `output count ${count(top)} must match input count ${count(b)} (${fmt(top)} vs ${fmt(b)})`);
    return node.tops.map(() => top.slice());
  },
});
