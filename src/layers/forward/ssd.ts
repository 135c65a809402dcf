import type { LayerNode } from '../types';
import type { Tensor } from '../../tensor';
import type { ForwardContext } from '../types';
import { alloc, arr, bool, fail, need, num, pm } from './util';
// module-level aliases: global lookups are slow inside jest's vm context
const { abs: M_abs, exp: M_exp, fround: M_fround, max: M_max, min: M_min, sqrt: M_sqrt, trunc: M_trunc } = Math;

type Fwd = (node: LayerNode, bottoms: Tensor[], ctx: ForwardContext) => Tensor[];

/**
 * SSD PriorBox (weiliu89/caffe ssd branch): top (1, 2, H·W·numPriors·4) = boxes then variances.
 * Sizes and ratios are float32 as in PriorBoxLayer (its aspect_ratios_ a vector<float>, 1./ar rounded).
 */
export function priorBoxSetup(node: LayerNode) {
  const p = pm(node, 'prior_box_param');
  const minSizes = arr(p.min_size).map(M_fround);
  const maxSizes = arr(p.max_size).map(M_fround);
  if (minSizes.length === 0) fail(node, 'prior_box_param needs min_size');
  if (minSizes.some((s) => !(s > 0))) fail(node, 'min_size must be positive');
  if (maxSizes.length && maxSizes.length !== minSizes.length) fail(node, 'max_size count must equal min_size count');
  maxSizes.forEach((mx, i) => {
    if (!(mx > minSizes[i])) fail(node, 'max_size must be greater than min_size');
  });
  const flip = bool(p.flip, true);
  const ars = [1];
  for (const ar of arr(p.aspect_ratio).map(M_fround)) {
    if (ars.some((a) => M_abs(M_fround(ar - a)) < 1e-6)) continue;
    ars.push(ar);
    if (flip) ars.push(M_fround(1 / ar));
  }
  const numPriors = ars.length * minSizes.length + maxSizes.length;
  return { p, minSizes, maxSizes, ars, numPriors };
}

/** img_h/img_w, else img_size, else the second bottom's size; Caffe refuses a zero or a half-given pair. */
function priorBoxImageSize(node: LayerNode, p: Record<string, any>, bottoms: Tensor[]): [number, number] {
  if (p.img_h !== undefined || p.img_w !== undefined) {
    if (p.img_size !== undefined) fail(node, 'give either img_size or img_h/img_w, not both');
    const h = num(p.img_h, 0);
    const w = num(p.img_w, 0);
    if (!(h > 0 && w > 0)) fail(node, 'img_h and img_w must both be larger than 0');
    return [h, w];
  }
  if (p.img_size !== undefined) {
    const s = num(p.img_size, 0);
    if (!(s > 0)) fail(node, 'img_size must be larger than 0');
    return [s, s];
  }
  if (bottoms.length < 2) fail(node, 'needs the image as second bottom (or img_size)');
  return [bottoms[1].shape[2], bottoms[1].shape[3]];
}

/** step_h/step_w, else step (float32), else 0 = image size / map size. */
function priorBoxStep(node: LayerNode, p: Record<string, any>): [number, number] {
  if (p.step_h !== undefined || p.step_w !== undefined) {
    if (p.step !== undefined) fail(node, 'give either step or step_h/step_w, not both');
    const h = M_fround(num(p.step_h, 0));
    const w = M_fround(num(p.step_w, 0));
    if (!(h > 0 && w > 0)) fail(node, 'step_h and step_w must both be larger than 0');
    return [h, w];
  }
  if (p.step !== undefined) {
    const s = M_fround(num(p.step, 0));
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
export const priorBoxForward: Fwd = (node, bottoms) => {
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
  const offset = M_fround(num(p.offset, 0.5));
  const clip = bool(p.clip, false);
  const variance = arr(p.variance).map(M_fround);
  if (variance.length > 1 && variance.length !== 4) fail(node, 'give 1 or 4 variance values');
  if (variance.some((v) => !(v > 0))) fail(node, 'variance must be positive');
  const dim = lh * lw * numPriors * 4;
  const out = alloc([1, 2, dim]);
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

interface Box {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

function boxSize(b: Box): number {
  if (b.xmax < b.xmin || b.ymax < b.ymin) return 0;
  return (b.xmax - b.xmin) * (b.ymax - b.ymin);
}

function jaccard(a: Box, b: Box): number {
  if (b.xmin > a.xmax || b.xmax < a.xmin || b.ymin > a.ymax || b.ymax < a.ymin) return 0;
  const inter: Box = {
    xmin: M_max(a.xmin, b.xmin),
    ymin: M_max(a.ymin, b.ymin),
    xmax: M_min(a.xmax, b.xmax),
    ymax: M_min(a.ymax, b.ymax),
  };
  const i = boxSize(inter);
  return i / (boxSize(a) + boxSize(b) - i);
}

function decode(prior: Box, v: number[], code: string, encodedInTarget: boolean, b: Box): Box {
  if (code === 'CORNER') {
    if (encodedInTarget) return { xmin: prior.xmin + b.xmin, ymin: prior.ymin + b.ymin, xmax: prior.xmax + b.xmax, ymax: prior.ymax + b.ymax };
    return {
      xmin: prior.xmin + v[0] * b.xmin,
      ymin: prior.ymin + v[1] * b.ymin,
      xmax: prior.xmax + v[2] * b.xmax,
      ymax: prior.ymax + v[3] * b.ymax,
    };
  }
  if (code === 'CENTER_SIZE') {
    const pw = prior.xmax - prior.xmin;
    const ph = prior.ymax - prior.ymin;
    const pcx = (prior.xmin + prior.xmax) / 2;
    const pcy = (prior.ymin + prior.ymax) / 2;
    const e = encodedInTarget ? [1, 1, 1, 1] : v;
    const cx = e[0] * b.xmin * pw + pcx;
    const cy = e[1] * b.ymin * ph + pcy;
    const w = M_exp(e[2] * b.xmax) * pw;
    const h = M_exp(e[3] * b.ymax) * ph;
    return { xmin: cx - w / 2, ymin: cy - h / 2, xmax: cx + w / 2, ymax: cy + h / 2 };
  }
  throw new Error(`code_type ${code}`);
}

/** SSD DetectionOutput: decode, per-class greedy NMS, keep_top_k; top (1,1,K,7) rows [img,label,score,x0,y0,x1,y1]. */
export const detectionOutputForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 3);
  const [locT, confT, priorT] = bottoms;
  const p = pm(node, 'detection_output_param');
  const numClasses = num(p.num_classes, 0);
  if (!(numClasses > 0)) fail(node, 'detection_output_param.num_classes must be > 0');
  const share = bool(p.share_location, true);
  const bg = num(p.background_label_id, 0);
  const nms = p.nms_param ?? {};
  const nmsTh = num(nms.nms_threshold, 0.3);
  const topK = num(nms.top_k, -1);
  const eta = num(nms.eta, 1);
  const keepTopK = num(p.keep_top_k, -1);
  const confTh = p.confidence_threshold !== undefined ? num(p.confidence_threshold, 0) : -3.4028234663852886e38;
  const code = String(p.code_type ?? 'CORNER');
  if (code !== 'CORNER' && code !== 'CENTER_SIZE') fail(node, `code_type ${code} is not supported`);
  const encIn = bool(p.variance_encoded_in_target, false);
  const clipBox = bool(p.clip_bbox, false);
  const numPriors = priorT.shape[2] / 4;
  const n = locT.shape[0];
  const numLoc = share ? 1 : numClasses;
  if (locT.data.length !== n * numPriors * numLoc * 4) fail(node, `loc blob (${locT.shape}) does not match ${numPriors} priors`);
  if (confT.data.length !== n * numPriors * numClasses) fail(node, `conf blob (${confT.shape}) does not match ${numPriors} priors × ${numClasses} classes`);
  const P = priorT.data;
  const priors: Box[] = [];
  const vars: number[][] = [];
  for (let i = 0; i < numPriors; i++) {
    priors.push({ xmin: P[i * 4], ymin: P[i * 4 + 1], xmax: P[i * 4 + 2], ymax: P[i * 4 + 3] });
    const o = numPriors * 4 + i * 4;
    vars.push([P[o], P[o + 1], P[o + 2], P[o + 3]]);
  }
  const rows: number[][] = [];
  for (let img = 0; img < n; img++) {
    // decoded boxes per location label (-1 = shared)
    const boxes = new Map<number, Box[]>();
    for (let l = 0; l < numLoc; l++) {
      const label = share ? -1 : l;
      if (!share && l === bg) continue;
      const list: Box[] = [];
      for (let i = 0; i < numPriors; i++) {
        const o = ((img * numPriors + i) * numLoc + l) * 4;
        const L = locT.data;
        let b = decode(priors[i], vars[i], code, encIn, { xmin: L[o], ymin: L[o + 1], xmax: L[o + 2], ymax: L[o + 3] });
        if (clipBox) b = { xmin: clamp01(b.xmin), ymin: clamp01(b.ymin), xmax: clamp01(b.xmax), ymax: clamp01(b.ymax) };
        list.push(b);
      }
      boxes.set(label, list);
    }
    const scoresOf = (c: number) => {
      const s = new Float32Array(numPriors);
      for (let i = 0; i < numPriors; i++) s[i] = confT.data[(img * numPriors + i) * numClasses + c];
      return s;
    };
    const indices = new Map<number, number[]>();
    const scoreCache = new Map<number, Float32Array>();
    let numDet = 0;
    for (let c = 0; c < numClasses; c++) {
      if (c === bg) continue;
      const scores = scoresOf(c);
      scoreCache.set(c, scores);
      const bx = boxes.get(share ? -1 : c)!;
      // GetMaxScoreIndex: scores > threshold, stable sort descending, top_k
      let cand: number[] = [];
      for (let i = 0; i < numPriors; i++) if (scores[i] > confTh) cand.push(i);
      cand.sort((a, b) => scores[b] - scores[a] || a - b);
      if (topK > -1 && topK < cand.length) cand = cand.slice(0, topK);
      const keep: number[] = [];
      let th = nmsTh;
      for (const idx of cand) {
        let ok = true;
        for (const k of keep) {
          if (jaccard(bx[idx], bx[k]) > th) {
            ok = false;
            break;
          }
        }
        if (ok) keep.push(idx);
        if (ok && eta < 1 && th > 0.5) th *= eta;
      }
      indices.set(c, keep);
      numDet += keep.length;
    }
    let final = indices;
    if (keepTopK > -1 && numDet > keepTopK) {
      const pairs: [number, number, number][] = [];
      for (const [c, idxs] of indices) for (const i of idxs) pairs.push([scoreCache.get(c)![i], c, i]);
      // std::sort by score descending (not stable: ties resolved by label, index here)
      pairs.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
      final = new Map();
      for (const [, c, i] of pairs.slice(0, keepTopK)) {
        if (!final.has(c)) final.set(c, []);
        final.get(c)!.push(i);
      }
    }
    for (const c of [...final.keys()].sort((a, b) => a - b)) {
      const bx = boxes.get(share ? -1 : c)!;
      const sc = scoreCache.get(c)!;
      for (const i of final.get(c)!) rows.push([img, c, sc[i], bx[i].xmin, bx[i].ymin, bx[i].xmax, bx[i].ymax]);
    }
  }
  if (rows.length === 0) {
    // Caffe: one row of -1 per image, with the image id
    const out = alloc([1, 1, n, 7]);
    out.data.fill(-1);
    for (let i = 0; i < n; i++) out.data[i * 7] = i;
    return [out];
  }
  const out = alloc([1, 1, rows.length, 7]);
  rows.forEach((r, i) => out.data.set(r, i * 7));
  return [out];
};

function clamp01(v: number): number {
  return M_min(M_max(v, 0), 1);
}
