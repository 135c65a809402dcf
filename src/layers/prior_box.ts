import { defineLayer } from './define';
import { bool, check, bottom, fail, fmt, has, num, nums, sub } from './params';
import type { LayerNode } from './types';
import type { Msg } from '../proto/message';
import type { Tensor } from '../tensor';
import { alloc, need, type Forward } from './forward';

// module-level aliases: global lookups are slow inside jest's vm context
const { abs: M_abs, fround: M_fround, max: M_max, min: M_min, sqrt: M_sqrt, trunc: M_trunc } = Math;

/**
 * SSD PriorBox (weiliu89/caffe ssd branch): top (1, 2, H·W·numPriors·4) = boxes then variances.
 * Sizes and ratios are float32 as in PriorBoxLayer (its aspect_ratios_ a vector<float>, 1./ar rounded).
 */
export function priorBoxSetup(node: LayerNode) {
  const p = sub(node, 'prior_box_param');
  const minSizes = nums(p, 'min_size').map(M_fround);
  const maxSizes = nums(p, 'max_size').map(M_fround);
  if (minSizes.length === 0) fail(node, 'prior_box_param needs min_size');
  if (minSizes.some((s) => !(s > 0))) fail(node, 'min_size must be positive');
  if (maxSizes.length && maxSizes.length !== minSizes.length) fail(node, 'max_size count must equal min_size count');
  maxSizes.forEach((mx, i) => {
    if (!(mx > minSizes[i])) fail(node, 'max_size must be greater than min_size');
  });
  const flip = bool(p, 'flip', true);
  const ars = [1];
  for (const ar of nums(p, 'aspect_ratio').map(M_fround)) {
    if (ars.some((a) => M_abs(M_fround(ar - a)) < 1e-6)) continue;
    ars.push(ar);
    if (flip) ars.push(M_fround(1 / ar));
  }
  const numPriors = ars.length * minSizes.length + maxSizes.length;
  return { p, minSizes, maxSizes, ars, numPriors };
}

/** img_h/img_w, else img_size, else the second bottom's size; Caffe refuses a zero or a half-given pair. */
function priorBoxImageSize(node: LayerNode, p: Msg, bottoms: Tensor[]): [number, number] {
  if (has(p, 'img_h') || has(p, 'img_w')) {
    if (has(p, 'img_size')) fail(node, 'give either img_size or img_h/img_w, not both');
    const h = num(p, 'img_h', 0);
    const w = num(p, 'img_w', 0);
    if (!(h > 0 && w > 0)) fail(node, 'img_h and img_w must both be larger than 0');
    return [h, w];
  }
  if (has(p, 'img_size')) {
    const s = num(p, 'img_size', 0);
    if (!(s > 0)) fail(node, 'img_size must be larger than 0');
    return [s, s];
  }
  if (bottoms.length < 2) fail(node, 'needs the image as second bottom (or img_size)');
  return [bottoms[1].shape[2], bottoms[1].shape[3]];
}

/** step_h/step_w, else step (float32), else 0 = image size / map size. */
function priorBoxStep(node: LayerNode, p: Msg): [number, number] {
  if (has(p, 'step_h') || has(p, 'step_w')) {
    if (has(p, 'step')) fail(node, 'give either step or step_h/step_w, not both');
    const h = M_fround(num(p, 'step_h', 0));
    const w = M_fround(num(p, 'step_w', 0));
    if (!(h > 0 && w > 0)) fail(node, 'step_h and step_w must both be larger than 0');
    return [h, w];
  }
  if (has(p, 'step')) {
    const s = M_fround(num(p, 'step', 0));
    if (!(s > 0)) fail(node, 'step must be larger than 0');
    return [s, s];
  }
  return [0, 0];
}

/*
 * Forward_cpu's arithmetic: min/max sizes truncated to int (`int min_size_ = min_sizes_[s]`), centres and steps
 * float32, sqrt(min·max) and sqrt(ar) in double (box sizes then stored as float), and each coordinate a double
 * expression (center − size / 2.) / img stored into the float blob.
 */
const priorBoxForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const { p, minSizes, maxSizes, ars, numPriors } = priorBoxSetup(node);
  const f = bottoms[0];
  const lh = f.shape[2];
  const lw = f.shape[3];
  const [imgH, imgW] = priorBoxImageSize(node, p, bottoms);
  let [stepH, stepW] = priorBoxStep(node, p);
  if (stepH === 0 || stepW === 0) {
    stepW = M_fround(imgW / lw);
    stepH = M_fround(imgH / lh);
  }
  const offset = M_fround(num(p, 'offset', 0.5));
  const clip = bool(p, 'clip', false);
  const variance = nums(p, 'variance').map(M_fround);
  if (variance.length > 1 && variance.length !== 4) fail(node, 'give 1 or 4 variance values');
  if (variance.some((v) => !(v > 0))) fail(node, 'variance must be positive');
  const dim = lh * lw * numPriors * 4;
  const out = alloc(ctx, [1, 2, dim]);
  const D = out.data;
  let idx = 0;
  const push = (cx: number, cy: number, bw: number, bh: number) => {
    D[idx++] = (cx - bw / 2) / imgW;
    D[idx++] = (cy - bh / 2) / imgH;
    D[idx++] = (cx + bw / 2) / imgW;
    D[idx++] = (cy + bh / 2) / imgH;
  };
  for (let h = 0; h < lh; h++)
    for (let w = 0; w < lw; w++) {
      const cx = M_fround(M_fround(w + offset) * stepW);
      const cy = M_fround(M_fround(h + offset) * stepH);
      minSizes.forEach((minF, s) => {
        const mn = M_trunc(minF);
        push(cx, cy, mn, mn);
        if (maxSizes.length) {
          const sz = M_fround(M_sqrt(mn * M_trunc(maxSizes[s])));
          push(cx, cy, sz, sz);
        }
        for (const ar of ars) {
          if (M_abs(ar - 1) < 1e-6) continue;
          const r = M_sqrt(ar);
          push(cx, cy, M_fround(mn * r), M_fround(mn / r));
        }
      });
    }
  if (clip) for (let d = 0; d < dim; d++) D[d] = M_min(M_max(D[d], 0), 1);
  if (variance.length <= 1) D.fill(variance.length ? variance[0] : M_fround(0.1), dim);
  else for (let i = 0; i < dim; i++) D[dim + i] = variance[i % 4];
  return [out];
};


/** Number of priors per location (SSD PriorBoxLayer::LayerSetUp; one reading of the params with the forward). */
export function numPriors(node: LayerNode): number {
  return priorBoxSetup(node).numPriors;
}

/** SSD PriorBox: top (1, 2, H*W*num_priors*4): boxes and variances for every location of bottom 0. */
export const priorBox = defineLayer({
  type: 'PriorBox',
  forward: priorBoxForward,
  chaidnn: 'sw',
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    check(node, b.length === 4, `bottom must be 4-D, got ${fmt(b)}`);
    return [[1, 2, b[2] * b[3] * numPriors(node) * 4]];
  },
});
