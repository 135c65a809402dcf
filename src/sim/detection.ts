/**
 * Detection agreement between the float and the fixed net: the float detections above a score threshold are the
 * reference; each is matched greedily (highest float score first) to the unmatched fixed detection of the same
 * class with the highest IoU, a match counting at IoU ≥ 0.5. Precision = matched / fixed detections above the
 * threshold, recall = matched / float detections above it, with the mean IoU and mean |score error| of the matches.
 *
 * Decoders: an SSD DetectionOutput blob (1,1,N,7 rows [image, label, score, xmin, ymin, xmax, ymax]), and box/score
 * tensors as UltraFace's own post-processing reads them (Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB,
 * caffe/ultra_face_caffe_inference.py: priors from min_boxes/strides, center/size variances 0.1/0.2, per-class
 * threshold, hard NMS at IoU 0.3).
 */
import type { Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { ExactSum, type ExactSumJSON } from './exact-sum';

/** A box in corner form [xmin, ymin, xmax, ymax] (normalized to the image). */
export type Box = [number, number, number, number];

export interface Detection {
  label: number;
  score: number;
  box: Box;
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (x: Box) => Math.max(0, x[2] - x[0]) * Math.max(0, x[3] - x[1]);
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

export interface Match {
  ref: number;
  fixed: number;
  iou: number;
}

/** Greedy matching of the reference (float) detections, best score first, ties by index. */
export function matchDetections(ref: Detection[], fixed: Detection[], iouThreshold = 0.5): Match[] {
  const order = ref.map((_, i) => i).sort((a, b) => ref[b].score - ref[a].score || a - b);
  const used = new Array<boolean>(fixed.length).fill(false);
  const out: Match[] = [];
  for (const r of order) {
    let best = -1;
    let bestIou = -1;
    fixed.forEach((f, j) => {
      if (used[j] || f.label !== ref[r].label) return;
      const v = iou(ref[r].box, f.box);
      if (v > bestIou) { best = j; bestIou = v; }
    });
    if (best >= 0 && bestIou >= iouThreshold) {
      used[best] = true;
      out.push({ ref: r, fixed: best, iou: bestIou });
    }
  }
  return out;
}

export interface DetectionStats {
  scoreThreshold: number;
  iouThreshold: number;
  images: number;
  /** float detections above the threshold */
  floatCount: number;
  /** fixed detections above the threshold */
  fixedCount: number;
  matched: number;
  /** summed exactly, so that shards merge to the figures of one run */
  iouSum: ExactSum;
  scoreErrSum: ExactSum;
}

export function newDetectionStats(scoreThreshold: number, iouThreshold = 0.5): DetectionStats {
  return { scoreThreshold, iouThreshold, images: 0, floatCount: 0, fixedCount: 0, matched: 0, iouSum: new ExactSum(), scoreErrSum: new ExactSum() };
}

/** Adds the counts and sums of `from` (another shard or worker of the same run) to `into`. */
export function mergeDetectionStats(into: DetectionStats, from: DetectionStats): void {
  into.images += from.images;
  into.floatCount += from.floatCount;
  into.fixedCount += from.fixedCount;
  into.matched += from.matched;
  into.iouSum.addSum(from.iouSum);
  into.scoreErrSum.addSum(from.scoreErrSum);
}

export interface DetectionStatsJSON {
  score_threshold: number;
  iou_threshold: number;
  images: number;
  float_detections: number;
  fixed_detections: number;
  matched: number;
  iou_sum: ExactSumJSON;
  score_error_sum: ExactSumJSON;
}

export function detectionStatsJSON(s: DetectionStats): DetectionStatsJSON {
  return {
    score_threshold: s.scoreThreshold, iou_threshold: s.iouThreshold, images: s.images, float_detections: s.floatCount,
    fixed_detections: s.fixedCount, matched: s.matched, iou_sum: s.iouSum.toJSON(), score_error_sum: s.scoreErrSum.toJSON(),
  };
}

/** The stats of a results file, or a description of what is wrong with them. */
export function detectionStatsFromJSON(j: any): DetectionStats | string {
  if (!j || typeof j !== 'object') return 'detection is not an object';
  const count = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  for (const k of ['images', 'float_detections', 'fixed_detections', 'matched']) if (!count(j[k])) return `detection.${k} is not a count`;
  for (const k of ['score_threshold', 'iou_threshold']) if (typeof j[k] !== 'number' || !Number.isFinite(j[k])) return `detection.${k} is not a number`;
  const iouSum = ExactSum.fromJSON(j.iou_sum);
  const scoreErrSum = ExactSum.fromJSON(j.score_error_sum);
  if (!iouSum || !scoreErrSum) return 'detection sums are not exact sums';
  return {
    scoreThreshold: j.score_threshold, iouThreshold: j.iou_threshold, images: j.images, floatCount: j.float_detections,
    fixedCount: j.fixed_detections, matched: j.matched, iouSum, scoreErrSum,
  };
}

/** One image: both sides cut at the score threshold, then matched. */
export function addDetections(s: DetectionStats, floatDets: Detection[], fixedDets: Detection[]): void {
  const ref = floatDets.filter((d) => d.score > s.scoreThreshold);
  const fx = fixedDets.filter((d) => d.score > s.scoreThreshold);
  const m = matchDetections(ref, fx, s.iouThreshold);
  s.images++;
  s.floatCount += ref.length;
  s.fixedCount += fx.length;
  s.matched += m.length;
  for (const x of m) {
    s.iouSum.add(x.iou);
    s.scoreErrSum.add(Math.abs(ref[x.ref].score - fx[x.fixed].score));
  }
}

export interface DetectionSummary {
  images: number;
  score_threshold: number;
  iou_threshold: number;
  float_detections: number;
  fixed_detections: number;
  matched: number;
  /** null when there is nothing to divide by */
  precision: number | null;
  recall: number | null;
  mean_iou: number | null;
  mean_score_error: number | null;
}

export function summarizeDetections(s: DetectionStats): DetectionSummary {
  const q = (a: number, b: number) => (b ? a / b : null);
  return {
    images: s.images, score_threshold: s.scoreThreshold, iou_threshold: s.iouThreshold,
    float_detections: s.floatCount, fixed_detections: s.fixedCount, matched: s.matched,
    precision: q(s.matched, s.fixedCount), recall: q(s.matched, s.floatCount),
    mean_iou: q(s.iouSum.value(), s.matched), mean_score_error: q(s.scoreErrSum.value(), s.matched),
  };
}

// ---- decoders ----

/** SSD DetectionOutput rows; Caffe pads an empty result with one row of image id -1. */
export function decodeDetectionOutput(t: Tensor): Detection[] {
  const out: Detection[] = [];
  for (let r = 0; r + 7 <= t.data.length; r += 7) {
    const d = t.data;
    if (d[r] < 0) continue;
    out.push({ label: d[r + 1], score: d[r + 2], box: [d[r + 3], d[r + 4], d[r + 5], d[r + 6]] });
  }
  return out;
}

/** UltraFace's anchor scheme (its demos' constants, for any input size). */
export const ULTRAFACE = {
  minBoxes: [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]],
  strides: [8, 16, 32, 64],
  centerVariance: 0.1,
  sizeVariance: 0.2,
  nmsIou: 0.3,
};

/** generate_priors: center form (cx, cy, w, h), clipped to [0, 1]. */
export function ultraFacePriors(width: number, height: number): Float64Array {
  const out: number[] = [];
  ULTRAFACE.strides.forEach((stride, k) => {
    const fw = Math.ceil(width / stride);
    const fh = Math.ceil(height / stride);
    const sw = width / stride;
    const sh = height / stride;
    for (let j = 0; j < fh; j++) {
      for (let i = 0; i < fw; i++) {
        for (const m of ULTRAFACE.minBoxes[k]) out.push((i + 0.5) / sw, (j + 0.5) / sh, m / width, m / height);
      }
    }
  });
  return Float64Array.from(out, (v) => Math.min(1, Math.max(0, v)));
}

/** Hard NMS as UltraFace's hard_nms: best score first, drop boxes with IoU > threshold, 200 candidates. */
export function hardNms(dets: Detection[], iouThreshold: number, candidates = 200): Detection[] {
  const sorted = dets.map((d, i) => [d, i] as const).sort((a, b) => b[0].score - a[0].score || a[1] - b[1]).slice(0, candidates).map((x) => x[0]);
  const keep: Detection[] = [];
  let rest = sorted;
  while (rest.length) {
    const cur = rest[0];
    keep.push(cur);
    rest = rest.slice(1).filter((d) => iou(d.box, cur.box) <= iouThreshold);
  }
  return keep;
}

/** scores (1,N,C) after Softmax, boxes (1,N,4) of encoded locations → detections per class ≥ 1 above the threshold. */
export function decodeUltraFace(scores: Tensor, boxes: Tensor, width: number, height: number, scoreThreshold: number): Detection[] {
  const priors = ultraFacePriors(width, height);
  const n = priors.length / 4;
  const C = scores.data.length / n;
  if (boxes.data.length !== n * 4 || !Number.isInteger(C) || C < 2) {
    throw new Error(`UltraFace decoding: ${n} priors for a ${width}×${height} input do not fit scores (${scores.shape}) and boxes (${boxes.shape})`);
  }
  const out: Detection[] = [];
  for (let c = 1; c < C; c++) {
    const cand: Detection[] = [];
    for (let k = 0; k < n; k++) {
      const p = scores.data[k * C + c];
      if (!(p > scoreThreshold)) continue;
      const [px, py, pw, ph] = [priors[4 * k], priors[4 * k + 1], priors[4 * k + 2], priors[4 * k + 3]];
      const l = boxes.data.subarray(4 * k, 4 * k + 4);
      const cx = l[0] * ULTRAFACE.centerVariance * pw + px;
      const cy = l[1] * ULTRAFACE.centerVariance * ph + py;
      const w = Math.exp(l[2] * ULTRAFACE.sizeVariance) * pw;
      const h = Math.exp(l[3] * ULTRAFACE.sizeVariance) * ph;
      cand.push({ label: c, score: p, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
    }
    out.push(...hardNms(cand, ULTRAFACE.nmsIou));
  }
  return out;
}

/** How a net's detections are read from its outputs, or undefined for a net that is no detector. */
export type DetectorOutputs =
  | { kind: 'ssd'; blob: string }
  | { kind: 'boxes-scores'; scores: string; boxes: string; decoding: 'ultraface' };

/**
 * A DetectionOutput producing a net output, else a pair of outputs shaped (1,N,C≥2) scores after a Softmax and
 * (1,N,4) boxes whose N is the UltraFace prior count for the input size (the one box/score decoding chaiq knows).
 */
export function detectorOutputs(net: Net, inputDims: number[]): DetectorOutputs | undefined {
  const writer = (b: string) => [...net.layers].reverse().find((l) => l.tops.includes(b));
  for (const b of net.outputs) if (writer(b)?.def?.detections) return { kind: 'ssd', blob: b };
  const shapeOf = (b: string) => {
    const w = writer(b);
    return w?.topShapes?.[w.tops.indexOf(b)];
  };
  const [, H, W] = inputDims;
  if (!H || !W) return undefined;
  const n = ultraFacePriors(W, H).length / 4;
  const boxes = net.outputs.find((b) => { const s = shapeOf(b); return s?.length === 3 && s[1] === n && s[2] === 4; });
  const scores = net.outputs.find((b) => { const s = shapeOf(b); return b !== boxes && s?.length === 3 && s[1] === n && s[2] >= 2 && !!writer(b)?.def?.probabilities; });
  return boxes && scores ? { kind: 'boxes-scores', scores, boxes, decoding: 'ultraface' } : undefined;
}

/** The detections of one image from the output tensors of one side (float or fixed). */
export function detectionsOf(d: DetectorOutputs, outs: Map<string, Tensor>, inputDims: number[], scoreThreshold: number): Detection[] {
  if (d.kind === 'ssd') return decodeDetectionOutput(outs.get(d.blob)!);
  return decodeUltraFace(outs.get(d.scores)!, outs.get(d.boxes)!, inputDims[2], inputDims[1], scoreThreshold);
}

export function formatDetectionText(d: DetectorOutputs, s: DetectionSummary): string {
  const f = (v: number | null, pct = true) => (v === null ? '-' : pct ? (100 * v).toFixed(2) + '%' : v.toFixed(4));
  const how = d.kind === 'ssd' ? `DetectionOutput '${d.blob}'` : `'${d.scores}' + '${d.boxes}' decoded as UltraFace's post-processing (priors, variances 0.1/0.2, NMS 0.3)`;
  return `detections (${how}): float detections with score > ${s.score_threshold} matched by fixed ones at IoU ≥ ${s.iou_threshold}: ` +
    `precision ${f(s.precision)}, recall ${f(s.recall)} (${s.matched} of ${s.float_detections} float, ${s.fixed_detections} fixed), ` +
    `mean IoU ${f(s.mean_iou, false)}, mean score error ${f(s.mean_score_error, false)}\n`;
}
