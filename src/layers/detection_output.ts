import { defineLayer } from './define';
import { bool, bottom, enumName, fail, has, num, sub } from './params';
import type { Msg } from '../proto/message';
import { alloc, need, type Forward } from './forward';

// module-level aliases: global lookups are slow inside jest's vm context
const { exp: M_exp, max: M_max, min: M_min } = Math;

/** PriorBoxParameter.CodeType by number (index = enum value) */
const CODE_TYPES = ['', 'CORNER', 'CENTER_SIZE', 'CORNER_SIZE'];

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
const detectionOutputForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 3);
  const [locT, confT, priorT] = bottoms;
  const p = sub(node, 'detection_output_param');
  const numClasses = num(p, 'num_classes', 0);
  if (!(numClasses > 0)) fail(node, 'detection_output_param.num_classes must be > 0');
  const share = bool(p, 'share_location', true);
  const bg = num(p, 'background_label_id', 0);
  const nms: Msg = p.nms_param ?? {};
  const nmsTh = num(nms, 'nms_threshold', 0.3);
  const topK = num(nms, 'top_k', -1);
  const eta = num(nms, 'eta', 1);
  const keepTopK = num(p, 'keep_top_k', -1);
  const confTh = has(p, 'confidence_threshold') ? num(p, 'confidence_threshold', 0) : -3.4028234663852886e38;
  const code = enumName(p, 'code_type', CODE_TYPES, 'CORNER');
  if (code !== 'CORNER' && code !== 'CENTER_SIZE') fail(node, `code_type ${code} is not supported`);
  const encIn = bool(p, 'variance_encoded_in_target', false);
  const clipBox = bool(p, 'clip_bbox', false);
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
    const out = alloc(ctx, [1, 1, n, 7]);
    out.data.fill(-1);
    for (let i = 0; i < n; i++) out.data[i * 7] = i;
    return [out];
  }
  const out = alloc(ctx, [1, 1, rows.length, 7]);
  rows.forEach((r, i) => out.data.set(r, i * 7));
  return [out];
};

function clamp01(v: number): number {
  return M_min(M_max(v, 0), 1);
}

/**
 * SSD DetectionOutput (NMS). The number of kept boxes is only known after NMS, so Caffe's Reshape sets the
 * top to a fake (1, 1, 1, 7): [image_id, label, confidence, xmin, ymin, xmax, ymax]; we report the same.
 */
export const detectionOutput = defineLayer({
  type: 'DetectionOutput',
  forward: detectionOutputForward,
  chaidnn: 'sw',
  detections: true,
  shape(node, bottoms) {
    bottom(node, bottoms, 2);
    return [[1, 1, 1, 7]];
  },
});
