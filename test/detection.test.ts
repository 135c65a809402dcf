/** Detection agreement (src/sim/detection.ts) on hand-made detections, and the decoders. */
import {
  addDetections, decodeDetectionOutput, decodeUltraFace, detectorOutputs, hardNms, iou, matchDetections,
  newDetectionStats, summarizeDetections, ultraFacePriors, type Detection,
} from '../src/sim/detection';
import { miniNet } from './quant-net';

const det = (label: number, score: number, box: [number, number, number, number]): Detection => ({ label, score, box });

describe('iou', () => {
  test('hand-checked values', () => {
    expect(iou([0, 0, 2, 2], [0, 0, 2, 2])).toBe(1);
    // overlap 1×2 = 2, union 4 + 4 − 2 = 6
    expect(iou([0, 0, 2, 2], [1, 0, 3, 2])).toBeCloseTo(2 / 6, 12);
    // overlap 1, union 4 + 1 − 1 = 4
    expect(iou([0, 0, 2, 2], [1, 1, 2, 2])).toBeCloseTo(0.25, 12);
    expect(iou([0, 0, 1, 1], [1, 0, 2, 1])).toBe(0); // touching
    expect(iou([0, 0, 1, 1], [2, 2, 3, 3])).toBe(0);
    expect(iou([0, 0, 0, 0], [0, 0, 0, 0])).toBe(0); // empty boxes
  });
});

describe('matchDetections', () => {
  test('greedy by float score: the best-scored float box takes the fixed box both overlap', () => {
    const ref = [det(1, 0.6, [0, 0, 2, 2]), det(1, 0.9, [0.2, 0, 2.2, 2])];
    const fx = [det(1, 0.8, [0.1, 0, 2.1, 2])];
    const m = matchDetections(ref, fx);
    expect(m).toHaveLength(1);
    expect(m[0].ref).toBe(1); // score 0.9 first
    expect(m[0].fixed).toBe(0);
    // both overlap 1.9×2 = 3.8 of union 4.2
    expect(m[0].iou).toBeCloseTo(3.8 / 4.2, 12);
  });
  test('IoU below 0.5 or another class is no match; each fixed box is used once', () => {
    const ref = [det(1, 0.9, [0, 0, 2, 2]), det(1, 0.8, [0, 0, 2, 2]), det(2, 0.7, [5, 5, 6, 6])];
    const fx = [det(1, 0.9, [0, 0, 2, 2]), det(1, 0.9, [1, 0, 3, 2]), det(1, 0.7, [5, 5, 6, 6])];
    const m = matchDetections(ref, fx);
    // ref 0 takes fx 0 (IoU 1); ref 1 is left with fx 1 at IoU 1/3 < 0.5; ref 2's class differs from fx 2
    expect(m).toEqual([{ ref: 0, fixed: 0, iou: 1 }]);
    expect(matchDetections(ref, fx, 0.3).map((x) => [x.ref, x.fixed])).toEqual([[0, 0], [1, 1]]);
  });
});

test('precision, recall, mean IoU and score error over images, cut at the score threshold', () => {
  const s = newDetectionStats(0.5);
  // image 1: two float faces (one below the threshold), fixed finds the first shifted, and a spurious one
  addDetections(s, [det(1, 0.9, [0, 0, 2, 2]), det(1, 0.4, [4, 4, 5, 5])], [det(1, 0.85, [0, 0, 2, 1.6]), det(1, 0.6, [7, 7, 8, 8])]);
  // image 2: one float face the fixed net misses (its score falls under the threshold)
  addDetections(s, [det(1, 0.7, [0, 0, 1, 1])], [det(1, 0.45, [0, 0, 1, 1])]);
  const r = summarizeDetections(s);
  expect(r.images).toBe(2);
  expect(r.float_detections).toBe(2);
  expect(r.fixed_detections).toBe(2);
  expect(r.matched).toBe(1);
  expect(r.precision).toBe(0.5);
  expect(r.recall).toBe(0.5);
  expect(r.mean_iou).toBeCloseTo(3.2 / 4, 12);
  expect(r.mean_score_error).toBeCloseTo(0.05, 12);
  const empty = summarizeDetections(newDetectionStats(0.5));
  expect(empty.precision).toBeNull();
  expect(empty.mean_iou).toBeNull();
});

test('DetectionOutput rows; the padding row of an empty result is skipped', () => {
  const t = { shape: [1, 1, 2, 7], data: Float32Array.from([0, 1, 0.75, 0.1, 0.2, 0.3, 0.4, -1, -1, -1, -1, -1, -1, -1]) };
  const d = decodeDetectionOutput(t);
  expect(d).toHaveLength(1);
  expect(d[0].label).toBe(1);
  expect(d[0].score).toBeCloseTo(0.75, 6);
  expect(d[0].box.map((v) => +v.toFixed(6))).toEqual([0.1, 0.2, 0.3, 0.4]);
});

describe('UltraFace decoding', () => {
  test('the prior count of its 320×240 model (4420) and the first prior', () => {
    const p = ultraFacePriors(320, 240);
    expect(p.length / 4).toBe(4420);
    expect(Array.from(p.subarray(0, 4))).toEqual([4 / 320, 4 / 240, 10 / 320, 10 / 240]);
  });
  test('a zero location decodes to its prior; NMS keeps the best of overlapping boxes', () => {
    const n = 4420;
    const scores = new Float32Array(n * 2);
    for (let k = 0; k < n; k++) { scores[2 * k] = 1; }
    // priors 0, 1, 2 share their centre (sizes 10, 16, 24), face scores 0.9, 0.8, 0.75
    scores[0] = 0.1; scores[1] = 0.9;
    scores[2] = 0.2; scores[3] = 0.8;
    scores[4] = 0.3; scores[5] = 0.75;
    const boxes = new Float32Array(n * 4);
    const d = decodeUltraFace({ shape: [1, n, 2], data: scores }, { shape: [1, n, 4], data: boxes }, 320, 240, 0.7);
    // IoU(10², 16²) = 100/256 = 0.39 > 0.3: dropped; IoU(10², 24²) = 100/576 = 0.17: kept
    expect(d.map((x) => +x.score.toFixed(2))).toEqual([0.9, 0.75]);
    expect(d[0].box.map((v) => +v.toFixed(6))).toEqual([(4 - 5) / 320, (4 - 5) / 240, (4 + 5) / 320, (4 + 5) / 240].map((v) => +v.toFixed(6)));
    expect(() => decodeUltraFace({ shape: [1, 10, 2], data: new Float32Array(20) }, { shape: [1, 10, 4], data: new Float32Array(40) }, 320, 240, 0.7)).toThrow(/priors/);
  });
  test('hardNms keeps disjoint boxes in score order', () => {
    const k = hardNms([det(1, 0.5, [0, 0, 1, 1]), det(1, 0.9, [2, 2, 3, 3]), det(1, 0.8, [0, 0, 1, 1.1])], 0.3);
    expect(k.map((x) => x.score)).toEqual([0.9, 0.8]);
  });
});

test('detectorOutputs: DetectionOutput nets, UltraFace-shaped scores/boxes, and classifiers (none)', () => {
  const ssd = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'det', type: 'DetectionOutput', bottoms: ['data'], tops: ['detection_out'] },
  ]);
  expect(detectorOutputs(ssd, [3, 8, 8])).toEqual({ kind: 'ssd', blob: 'detection_out' });
  const uf = miniNet([
    { name: 'input', type: 'Input', tops: ['input'] },
    { name: 'boxes', type: 'Concat', bottoms: ['input'], tops: ['boxes'] },
    { name: 'scores', type: 'Softmax', bottoms: ['input'], tops: ['scores'] },
  ]);
  uf.layers[1].topShapes = [[1, 4420, 4]];
  uf.layers[2].topShapes = [[1, 4420, 2]];
  expect(detectorOutputs(uf, [3, 240, 320])).toEqual({ kind: 'boxes-scores', scores: 'scores', boxes: 'boxes', decoding: 'ultraface' });
  // another input size: the prior count no longer fits, so no decoding is guessed
  expect(detectorOutputs(uf, [3, 480, 640])).toBeUndefined();
  const cls = miniNet([{ name: 'data', type: 'Input', tops: ['data'] }, { name: 'prob', type: 'Softmax', bottoms: ['data'], tops: ['prob'] }]);
  expect(detectorOutputs(cls, [3, 32, 32])).toBeUndefined();
});

describe('the matching rule, hand-checked', () => {
  test('each float box takes the unmatched fixed box of highest IoU, not the first one above 0.5', () => {
    const ref = [det(1, 0.9, [0, 0, 2, 2]), det(1, 0.8, [0.6, 0, 2.6, 2])];
    const fx = [det(1, 0.9, [0.6, 0, 2.6, 2]), det(1, 0.7, [0.2, 0, 2.2, 2])];
    // ref 0 (score 0.9): fx 0 overlaps 1.4×2 = 2.8 of 8 − 2.8 → 0.538; fx 1 overlaps 1.8×2 = 3.6 of 4.4 → 0.818: fx 1
    // ref 1 (score 0.8): fx 1 is taken; fx 0 is the same box: IoU 1
    const m = matchDetections(ref, fx);
    expect(m.map((x) => [x.ref, x.fixed])).toEqual([[0, 1], [1, 0]]);
    expect(m[0].iou).toBeCloseTo(9 / 11, 12);
    expect(m[1].iou).toBe(1);
  });
  test('greedy by float score (as VOC/COCO evaluation): a higher-scored box may take the only box a lower one could match', () => {
    const ref = [det(1, 0.9, [0, 0, 2, 2]), det(1, 0.8, [1, 0, 3, 2])];
    const fx = [det(1, 0.5, [0.5, 0, 2.5, 2]), det(1, 0.5, [-0.6, 0, 1.4, 2])];
    // ref 0: fx 0 overlaps 1.5×2 = 3 of 8 − 3 → 0.6; fx 1 overlaps 1.4×2 = 2.8 of 8 − 2.8 → 0.538; takes fx 0.
    // ref 1: fx 0 is taken; fx 1 overlaps 0.4×2 = 0.8 of 7.2 → 0.111 < 0.5: no match (an optimal assignment,
    // ref 0 → fx 1 and ref 1 → fx 0, would match both; the metric counts the board's best-first view instead).
    const m = matchDetections(ref, fx);
    expect(m).toEqual([{ ref: 0, fixed: 0, iou: expect.closeTo(0.6, 12) }]);
  });
  test('the score threshold cuts both sides, strictly (UltraFace: probs > prob_threshold)', () => {
    const s = newDetectionStats(0.5);
    // a float face at exactly the threshold is not a reference; one at 0.55 whose fixed score fell to 0.5 is missed
    addDetections(s, [det(1, 0.5, [0, 0, 1, 1]), det(1, 0.55, [2, 2, 3, 3])], [det(1, 0.6, [0, 0, 1, 1]), det(1, 0.5, [2, 2, 3, 3])]);
    const r = summarizeDetections(s);
    expect([r.float_detections, r.fixed_detections, r.matched]).toEqual([1, 1, 0]);
    expect(r.recall).toBe(0);
    expect(r.precision).toBe(0);
  });
});
