/**
 * Progressive calibration, as XportDNN (the ML-Suite xfDNN quantizer) computed its thresholds
 * (chaidnn-semantics.md §4.2–4.4): all calibration images as one batch, layers in prototxt order, each
 * layer forwarded on the already-quantized net — its bottom quantized with its th_layer_in, its weights
 * quantized per output channel, the threshold taken on its output, the top quantized before the next
 * layer reads it. The result is the threshold of every blob version; buildXilinxPlan turns them into
 * blocks and keeps CHaiDNN's invariants where the literal result would break them.
 *
 * Memory: a blob is kept only until its last reader (plus, until its readers are done, the float value a
 * ReLU or Concat re-forward needs), so only the live activations of the one batch are held.
 */
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { forwardOf } from '../exec/executor';
import { computeThreshold } from '../calib/threshold';
import type { ThresholdMethod } from '../calib/threshold';
import { snapPow2, versionKey } from './xilinx';
import { planRole } from '../layers/registry';
import { zeroTensorThreshold } from './calibrate';
import type { Bitwidths, VersionThreshold } from './xilinx';
import { foldFactors, foldTarget, perChannelAbsMax } from '../chaidnn/weights';

const f32 = Math.fround;


export type CalibrationMode = 'progressive' | 'float';
export const CALIBRATION_MODES: readonly CalibrationMode[] = ['progressive', 'float'];

export interface ProgressiveOptions {
  bitwidths: Bitwidths;
  method: ThresholdMethod;
  /** thresholds snapped to (2^(bw-1)-1)·2^k before they quantize anything (--pow2) */
  pow2?: boolean;
  warn?: WarnFn;
  /** after each layer: (done, total) */
  onProgress?: (done: number, total: number) => void;
  /** sees the float value each threshold is taken on (before it is quantized) */
  onThreshold?: (li: number, ti: number, value: Tensor, th: number) => void;
}

export interface ProgressiveResult {
  /** the threshold computed for each blob version, for buildXilinxPlan */
  thOf: VersionThreshold;
  /** the same by version key `${li}/${ti}` */
  thresholds: Map<string, number>;
  /** method actually used per `top@layer` (fallbacks say so), as thresholdsFromStats reports it */
  method: Map<string, string>;
}

/** round half to even (np.round) */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Float2Fixed2Float(x, bw, th) in float32 (§4.3): clip to ±th, round(x/sf)·sf with sf = th/(2^(bw-1)-1),
 * half to even. Always a new array (forwards may return their input's array).
 */
export function quantizeValues(x: Float32Array, th: number, bw: number): Float32Array {
  const out = levels(x, th, bw);
  const sf = f32(th / (2 ** (bw - 1) - 1));
  if (th > 0) for (let i = 0; i < out.length; i++) out[i] = f32(out[i] * sf);
  return out;
}

const quantize = (x: Tensor, th: number, bw: number): Tensor => ({ shape: x.shape, data: quantizeValues(x.data, th, bw) });

/** the integer levels of Float2Fixed2Float: round(clip(x, ±th)/sf) (0 when th is 0) */
function levels(x: Float32Array, th: number, bw: number): Float32Array {
  const out = new Float32Array(x.length);
  if (!(th > 0)) return out;
  const t = f32(th);
  const sf = f32(th / (2 ** (bw - 1) - 1));
  for (let i = 0; i < x.length; i++) {
    const v = x[i] > t ? t : x[i] < -t ? -t : x[i];
    out[i] = rint(f32(v / sf));
  }
  return out;
}

/**
 * The weights XportDNN forwards with, as integer levels and a scale per output channel: each channel
 * quantized at th = max|W[c]| (bw params), W_q[c] = levels·scale[c]. With BatchNorm/Scale in place
 * (folded by CHaiDNN, factors S) the folded channel W[c]·S[c] is the one quantized, and its scale
 * divided by S[c] again so that the float BN/Scale after the conv restore it.
 */
function quantizedWeights(net: Net, l: LayerNode, bw: number): { levels: Tensor; scale: Float64Array } {
  const W = l.blobs[0];
  if (!W) throw new ChaiqError(`layer "${l.name}" (${l.type}) has no weights: give --weights with a caffemodel that has them`, l.loc ?? {});
  const S = foldFactors(net, l.index);
  const th = perChannelAbsMax(l, W, S);
  const rows = W.shape[0];
  const k = W.data.length / rows;
  const out = new Float32Array(W.data.length);
  const scale = new Float64Array(rows);
  for (let c = 0; c < rows; c++) {
    const s = S ? S[c] : 1;
    if (s === 0 || !(th[c] > 0)) continue;
    const row = W.data.subarray(c * k, (c + 1) * k);
    out.set(levels(S ? Float32Array.from(row, (w) => f32(w * s)) : row, th[c], bw), c * k);
    scale[c] = f32(th[c] / (2 ** (bw - 1) - 1)) / s;
  }
  return { levels: { shape: W.shape, data: out }, scale };
}

/** Stacks single images (1,C,H,W) into one batch (N,C,H,W). */
export function stackBatch(images: Tensor[]): Tensor {
  if (images.length === 0) throw new ChaiqError('no calibration images');
  const [, ...rest] = images[0].shape;
  const n = images[0].data.length;
  const data = new Float32Array(n * images.length);
  images.forEach((t, i) => {
    if (t.data.length !== n) throw new ChaiqError('calibration images of different sizes cannot form one batch');
    data.set(t.data, i * n);
  });
  return { shape: [images.length, ...rest], data };
}

/**
 * Thresholds of every blob version on the progressively quantized net (§4.4), one batch:
 * - Input: threshold of the data, which is then quantized;
 * - Convolution / InnerProduct: bottom quantized with its producer's current threshold, weights per
 *   channel, threshold on the output (the bias stays float, as XportDNN left it);
 * - ReLU: the producer re-forwarded, i.e. ReLU of its float output, threshold of that (in place this
 *   overwrites the producer's, §4.4); BatchNorm/Scale in place on a conv (folded by CHaiDNN) likewise;
 * - Pooling, LRN, Dropout: bottom quantized, forwarded, the input's threshold passed on;
 * - Concat: its inputs regenerated in float, threshold of the concatenation, which overwrites the inputs';
 * - Eltwise: the largest input threshold; inputs 1.. quantized with it (input 0 is not: XportDNN's
 *   range(1, …)), forwarded, the output quantized with it;
 * - others (Split, Flatten, Softmax, ...): forwarded in float, a threshold taken for their outputs.
 */
export async function progressiveThresholds(net: Net, batch: Tensor, opts: ProgressiveOptions): Promise<ProgressiveResult> {
  const warn = opts.warn ?? (() => undefined);
  const bwOut = opts.bitwidths.out;
  const bwW = opts.bitwidths.params;
  const ctx = { warn };
  const calibrated = new Map<string, number>();
  const method = new Map<string, string>();
  /** the current threshold of a version (XportDNN's th_out dict) */
  const th = new Map<string, number>();
  /** the value a reader of a blob gets now */
  const cur = new Map<string, Tensor>();
  /** the float output of a version before it was quantized (for a ReLU's or Concat's re-forward) */
  const raw = new Map<string, Tensor>();
  /** the version a blob name holds now */
  const verOf = new Map<string, string>();
  const lastRead = new Map<string, number>();
  net.layers.forEach((l, i) => l.bottoms.forEach((b) => lastRead.set(b, i)));
  const outputs = new Set(net.outputs);

  const threshold = (l: LayerNode, ti: number, t: Tensor): number => {
    const r = computeThreshold(opts.method, t.data, bwOut);
    const key = `${l.tops[ti]}@${l.name}`;
    if (r.fallback) {
      warn(`threshold of blob "${l.tops[ti]}" (layer "${l.name}"): ${r.fallback}`, l.loc ?? {});
      method.set(key, `${opts.method}→max`);
    } else method.set(key, opts.method);
    let t0 = r.th;
    if (!(t0 > 0)) {
      const bv = l.bottoms.length ? verOf.get(l.bottoms[0]) : undefined;
      t0 = zeroTensorThreshold(l, ti, bv !== undefined ? th.get(bv) : undefined, warn);
      method.set(key, 'input');
    }
    const v = opts.pow2 ? snapPow2(f32(t0), bwOut) : t0;
    calibrated.set(versionKey(l.index, ti), v);
    opts.onThreshold?.(l.index, ti, t, v);
    return v;
  };
  const bottomOf = (l: LayerNode, bi: number): { name: string; ver: string; value: Tensor } => {
    const name = l.bottoms[bi];
    const value = cur.get(name);
    const ver = verOf.get(name);
    if (!value || ver === undefined) throw new ChaiqError(`layer '${l.name}' (${l.type}): bottom '${name}' has no value (not produced by any earlier layer)`, l.loc ?? { file: net.file });
    return { name, ver, value };
  };
  const thOfVersion = (ver: string): number => th.get(ver) ?? 0;
  /** bottom := Q(bottom, th_in), as XportDNN writes it back into the blob */
  const quantizeBottom = (b: { name: string; ver: string; value: Tensor }): Tensor => {
    const q = quantize(b.value, thOfVersion(b.ver), bwOut);
    cur.set(b.name, q);
    return q;
  };
  const write = (l: LayerNode, ti: number, value: Tensor, float: Tensor, t: number) => {
    const ver = versionKey(l.index, ti);
    th.set(ver, t);
    raw.set(ver, float);
    cur.set(l.tops[ti], value);
    verOf.set(l.tops[ti], ver);
  };
  const run = async (l: LayerNode, bottoms: Tensor[], node: LayerNode = l): Promise<Tensor[]> => {
    const fwd = forwardOf(l);
    if (!fwd) throw new ChaiqError(`layer '${l.name}': type '${l.type}' has no float implementation in chaiq`, l.loc ?? { file: net.file });
    const tops = await fwd(node, bottoms, ctx);
    if (tops.length !== l.tops.length) throw new ChaiqError(`layer '${l.name}' (${l.type}): produced ${tops.length} top(s), the prototxt names ${l.tops.length}`, l.loc ?? { file: net.file });
    return tops;
  };
  /**
   * A Convolution/InnerProduct on the quantized bottom with quantized weights, computed on the integer
   * levels (sums of integer products are exact in float32 up to 2^24) and scaled once per output,
   * y = (sf_in·sf_w[c])·Σ levels + b[c]: the same values whatever the summation order of the GEMM,
   * so any implementation of the algorithm gets the same histograms.
   */
  const weightedForward = async (l: LayerNode, b: { name: string; ver: string; value: Tensor }): Promise<Tensor> => {
    const tIn = thOfVersion(b.ver);
    const xl = { shape: b.value.shape, data: levels(b.value.data, tIn, bwOut) };
    quantizeBottom(b);
    const w = quantizedWeights(net, l, bwW);
    const bias = l.blobs[1];
    const node: LayerNode = { ...l, blobs: [w.levels, ...(bias ? [{ shape: bias.shape, data: new Float32Array(bias.data.length) }] : [])] };
    const [acc] = await run(l, [xl], node);
    const sfIn = tIn > 0 ? f32(tIn / (2 ** (bwOut - 1) - 1)) : 0;
    const C = w.scale.length;
    const inner = acc.data.length / (acc.shape[0] * C);
    const y = new Float32Array(acc.data.length);
    for (let i = 0; i < y.length; i++) {
      const c = Math.floor(i / inner) % C;
      y[i] = f32(sfIn * w.scale[c] * acc.data[i] + (bias ? bias.data[c] : 0));
    }
    return { shape: acc.shape, data: y };
  };
  /** in-place BatchNorm/Scale that CHaiDNN folds into this layer's output follow it */
  const foldedAfter = (li: number): boolean => {
    const l = net.layers[li];
    return net.consumers(li, 0).some((c) => foldTarget(net, c) >= 0 && net.layers[c].bottoms[0] === l.tops[0]);
  };

  let inputSeen = false;
  for (const l of net.layers) {
    const li = l.index;
    const role = planRole(l);
    if (l.def?.source) {
      if (inputSeen) throw new ChaiqError('progressive calibration needs a net with exactly one input', l.loc ?? { file: net.file });
      inputSeen = true;
      const t = threshold(l, 0, batch);
      write(l, 0, quantize(batch, t, bwOut), batch, t);
    } else if (l.def?.progressive === 'weights') {
      const y = await weightedForward(l, bottomOf(l, 0));
      const t = threshold(l, 0, y);
      // the BN/Scale CHaiDNN folds in read the conv's float output; the last of them quantizes
      write(l, 0, foldedAfter(li) ? y : quantize(y, t, bwOut), y, t);
    } else if (role === 'producer' || (role === 'fold' && foldTarget(net, li) >= 0)) {
      const b = bottomOf(l, 0);
      const [y] = await run(l, [raw.get(b.ver) ?? b.value]);
      const t = threshold(l, 0, y);
      write(l, 0, role !== 'producer' && foldedAfter(li) ? y : quantize(y, t, bwOut), y, t);
    } else if (role === 'pass') {
      const b = bottomOf(l, 0);
      const tIn = thOfVersion(b.ver);
      const x = l.def?.progressive === 'bottom' ? quantizeBottom(b) : b.value;
      const rest = l.bottoms.slice(1).map((_, i) => bottomOf(l, i + 1).value);
      const tops = await run(l, [x, ...rest]);
      tops.forEach((y, ti) => write(l, ti, y, y, tIn));
    } else if (role === 'shared-output') {
      const bs = l.bottoms.map((_, bi) => bottomOf(l, bi));
      const [y] = await run(l, bs.map((b) => raw.get(b.ver) ?? b.value));
      const t = threshold(l, 0, y);
      for (const b of bs) th.set(b.ver, t);
      write(l, 0, quantize(y, t, bwOut), y, t);
    } else if (role === 'shared-max') {
      const bs = l.bottoms.map((_, bi) => bottomOf(l, bi));
      const t = Math.max(...bs.map((b) => thOfVersion(b.ver)));
      const xs = bs.map((b, i) => (i === 0 ? b.value : quantize(b.value, t, bwOut)));
      bs.forEach((b, i) => i > 0 && cur.set(b.name, xs[i]));
      const [y] = await run(l, xs);
      calibrated.set(versionKey(li, 0), t);
      write(l, 0, quantize(y, t, bwOut), y, t);
    } else {
      if (l.tops.length === 0) continue;
      const tops = await run(l, l.bottoms.map((_, bi) => bottomOf(l, bi).value));
      tops.forEach((y, ti) => write(l, ti, y, y, threshold(l, ti, y)));
    }
    // drop what no later layer reads
    for (const b of l.bottoms) if (lastRead.get(b) === li && !outputs.has(b) && !l.tops.includes(b)) cur.delete(b);
    for (const [ver] of raw) {
      const [p, ti] = ver.split('/').map(Number);
      if (net.consumers(p, ti).every((c) => c <= li)) raw.delete(ver);
    }
    opts.onProgress?.(li + 1, net.layers.length);
  }
  const thOf: VersionThreshold = (li, ti) => {
    const v = calibrated.get(versionKey(li, ti));
    if (v === undefined) {
      const l = net.layers[li];
      throw new ChaiqError(`progressive calibration computed no threshold for blob "${l.tops[ti]}" written by layer "${l.name}"`, l.loc ?? {});
    }
    return v;
  };
  return { thOf, thresholds: calibrated, method };
}
