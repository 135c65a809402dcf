/**
 * Activation threshold methods (Xilinx mode th_layer_out). `kl` is a faithful port of the original
 * xfDNN/XportDNN ComputeThreshold (chaidnn-semantics.md §4.3); the others follow
 * calibration-algorithms.md §2. All pure functions over arrays / histograms.
 */
import { ChaiqError } from '../errors';
import { accumulateAbsHistogram, histogramEdges, npInterp, npLinspace, npSum, sqrtRuleBins, SuffixPairwiseSum } from './numpy';

export type ThresholdMethod = 'kl' | 'max' | 'percentile' | 'mse' | 'entropy';
export const THRESHOLD_METHODS: readonly ThresholdMethod[] = ['kl', 'max', 'percentile', 'mse', 'entropy'];

export interface ThresholdResult {
  th: number;
  /** Set when the method could not run as specified and max|x| was used instead (caller warns). */
  fallback?: string;
}

/** Counts of |x| over the sqrt-rule bins on [0, mx] (exactly np.histogram's), plus what KL needs. */
export interface KLHistogram {
  counts: ArrayLike<number>;
  /** max|x| as float32 (the histogram range end). */
  mx: number;
}

/** Equal-width histogram of |x| over [0, counts.length·binWidth), for the approximate methods. */
export interface AbsHistogram {
  counts: ArrayLike<number>;
  binWidth: number;
  /** exact max|x| if known (caps thresholds). */
  absMax: number;
}

export type ThresholdInput = Float32Array | number[];

const f32 = Math.fround;

function toF32(data: ThresholdInput): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/** max|x| of float32 data (0 for empty). */
export function absMaxOf(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a > m) m = a;
  }
  return m;
}

function absMinOf(data: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a < m) m = a;
  }
  return m;
}

/** np.isclose(mx, 0): |mx| <= atol 1e-8. */
function isCloseZero(mx: number): boolean {
  return Math.abs(mx) <= 1e-8;
}

/**
 * ComputeThreshold(data, bw, 'sqrt') — KL-J on the CDF of |x| (chaidnn-semantics.md §4.3), with
 * the float32 histogram edges of numpy 1.x that reproduce XportDNN's fcn5 thresholds. The original
 * returns a tiny threshold when the first bin is empty (every divergence is NaN); we return max|x| and
 * say so in `fallback`.
 */
export function computeThresholdKL(data: ThresholdInput | KLHistogram, bw: number): ThresholdResult {
  if (!(data instanceof Float32Array) && !Array.isArray(data)) return computeThresholdKLFromHist(data, bw);
  const x = toF32(data);
  if (x.length === 0) return { th: 0, fallback: 'no values' };
  const mx = f32(absMaxOf(x));
  if (isCloseZero(mx)) return { th: 0 };
  const nbins = sqrtRuleBins(x.length, absMinOf(x), mx);
  const counts = new Float64Array(nbins);
  accumulateAbsHistogram(x, mx, nbins, histogramEdges(mx, nbins), counts);
  return computeThresholdKLFromHist({ counts, mx }, bw);
}

/** The KL-J search on an exact sqrt-rule histogram (see computeThresholdKL). */
export function computeThresholdKLFromHist(hist: KLHistogram, bw: number): ThresholdResult {
  const mx = f32(hist.mx);
  if (isCloseZero(mx)) return { th: 0 };
  const nbins = hist.counts.length;
  const edges = histogramEdges(mx, nbins);
  let total = 0;
  for (let k = 0; k < nbins; k++) total += hist.counts[k];
  if (total === 0) return { th: mx, fallback: 'empty histogram' };
  // np.histogram(density=True): n/db/n.sum() with db = float32 edge differences; then hist/np.sum(hist).
  const pdf = new Float64Array(nbins);
  for (let k = 0; k < nbins; k++) pdf[k] = hist.counts[k] / f32(edges[k + 1] - edges[k]) / total;
  const s = npSum(pdf);
  const cdf = new Float64Array(nbins);
  let acc = 0;
  for (let k = 0; k < nbins; k++) {
    acc += pdf[k] / s;
    cdf[k] = acc;
  }
  const n = 2 ** (bw - 1);
  if (n + 1 > nbins) return { th: mx };
  if (cdf[0] === 0) {
    return { th: mx, fallback: 'first histogram bin is empty (KL-J undefined: every divergence is NaN); using max|x|' };
  }
  const w = f32(edges[1] - edges[0]);
  const xN = npLinspace(0, 1, n);
  const q = new Float64Array(nbins);
  const terms = new Float64Array(nbins);
  const pInterp = new Float64Array(n);
  const tail = new Float64Array(nbins);
  for (let k = 0; k < nbins; k++) tail[k] = (cdf[k] - 1) * Math.log2(cdf[k] / 1);
  const suffixSum = new SuffixPairwiseSum(tail);
  let bestD = Infinity;
  let bestI = -1;
  for (let i = n + 1; i <= nbins; i++) {
    // p = cdf with p[i-1:] = 1; squeeze p[0:i] onto n levels and expand back to i points.
    const p = cdf.subarray(0, i).slice();
    p[i - 1] = 1;
    const xI = npLinspace(0, 1, i);
    npInterp(xN, xI, p, pInterp);
    npInterp(xI, xN, pInterp, q);
    // q[k] = 1 for k >= i: those terms are the same for every candidate (memoised in the sum)
    for (let k = 0; k < i; k++) terms[k] = (cdf[k] - q[k]) * Math.log2(cdf[k] / q[k]);
    const d = suffixSum.sum(terms, i);
    if (Number.isNaN(d)) {
      // np.argmin returns the first NaN; cannot happen when cdf[0] > 0, but stay faithful-safe.
      return { th: mx, fallback: 'KL-J divergence is NaN; using max|x|' };
    }
    if (d < bestD) {
      bestD = d;
      bestI = i;
    }
  }
  if (bestI < 0) return { th: mx, fallback: 'no finite KL-J divergence; using max|x|' };
  return { th: (bestI + 0.5) * w };
}

/** max|x|. */
export function computeThresholdMax(data: ThresholdInput): ThresholdResult {
  return { th: f32(absMaxOf(data)) };
}

/** np.percentile(|x|, p) with numpy's default linear interpolation (exact order statistics). */
export function computeThresholdPercentile(data: ThresholdInput, percentile = 99.99): ThresholdResult {
  if (!(percentile > 0 && percentile <= 100)) throw new ChaiqError(`percentile must be in (0, 100], got ${percentile}`);
  const n = data.length;
  if (n === 0) return { th: 0, fallback: 'no values' };
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.abs(data[i]);
  a.sort();
  const rank = (percentile / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, n - 1);
  const frac = rank - lo;
  return { th: a[lo] + (a[hi] - a[lo]) * frac };
}

/** Default resolution of the histogram built for mse/entropy on raw data (TensorRT's 2048). */
export const DEFAULT_HIST_BINS = 2048;

/** Equal-width histogram of |x| over [0, max|x|] (last bin closed). */
export function absHistogram(data: ArrayLike<number>, bins = DEFAULT_HIST_BINS): AbsHistogram {
  const absMax = absMaxOf(data);
  const counts = new Float64Array(bins);
  if (absMax === 0) {
    counts[0] = data.length;
    return { counts, binWidth: 0, absMax: 0 };
  }
  const scale = bins / absMax;
  for (let i = 0; i < data.length; i++) {
    let k = Math.floor(Math.abs(data[i]) * scale);
    if (k >= bins) k = bins - 1;
    counts[k] += 1;
  }
  return { counts, binWidth: absMax / bins, absMax };
}

/** Symmetric threshold-mode quantize-dequantize (CHaiDNN: clip, round half away from zero). */
function qdq(v: number, th: number, levels: number): number {
  if (th <= 0) return 0;
  const sf = th / levels;
  const c = v > th ? th : v;
  return Math.round(c / sf) * sf; // v >= 0 here: Math.round is half-up = half away from zero
}

/**
 * Threshold minimising the MSE of symmetric bw-bit quantization (sf = th/(2^(bw-1)-1)) of |x|, over
 * the candidate grid th = bin centres, evaluated on the histogram's bin centres weighted by counts
 * (as pytorch-quantization's _compute_amax_mse; calibration-algorithms.md §2.5).
 */
export function computeThresholdMSEFromHist(h: AbsHistogram, bw: number): ThresholdResult {
  const levels = 2 ** (bw - 1) - 1;
  const B = lastNonEmpty(h.counts) + 1;
  if (B === 0 || h.binWidth === 0 || h.absMax === 0) return { th: 0 };
  const centres = new Float64Array(B);
  for (let k = 0; k < B; k++) centres[k] = (k + 0.5) * h.binWidth;
  let best = Infinity;
  let bestTh = h.absMax;
  for (let i = 0; i < B; i++) {
    const th = Math.min(centres[i], h.absMax);
    let err = 0;
    for (let k = 0; k < B; k++) {
      const c = h.counts[k];
      if (c === 0) continue;
      const e = qdq(centres[k], th, levels) - centres[k];
      err += c * e * e;
    }
    if (err < best) {
      best = err;
      bestTh = th;
    }
  }
  return { th: bestTh };
}

function lastNonEmpty(counts: ArrayLike<number>): number {
  for (let k = counts.length - 1; k >= 0; k--) if (counts[k] > 0) return k;
  return -1;
}

/**
 * TensorRT entropy calibration (Migacz 2017; calibration-algorithms.md §2.1) on a |x| histogram with
 * 2^(bw-1) target levels: P = bins[0..i) with the tail folded into the last bin, Q = P's bins merged into
 * the levels and spread over the non-empty bins, both smoothed as MXNet does (eps 1e-4), threshold
 * (m + 0.5)·binWidth of the KL(P‖Q) minimum.
 */
export function computeThresholdEntropyFromHist(h: AbsHistogram, bw: number): ThresholdResult {
  const nq = 2 ** (bw - 1);
  const B = lastNonEmpty(h.counts) + 1;
  if (B === 0 || h.binWidth === 0 || h.absMax === 0) return { th: 0 };
  if (B <= nq) return { th: h.absMax };
  const bins = Float64Array.from({ length: B }, (_, k) => h.counts[k]);
  let tail = 0;
  for (let k = nq; k < B; k++) tail += bins[k];
  const p = new Float64Array(B);
  const q = new Float64Array(B);
  let best = Infinity;
  let bestI = B;
  for (let i = nq; i <= B; i++) {
    // tail = sum(bins[i:]) at this point
    for (let k = 0; k < i; k++) p[k] = bins[k];
    p[i - 1] += tail;
    const m = Math.floor(i / nq);
    for (let j = 0; j < nq; j++) {
      const start = j * m;
      const stop = j === nq - 1 ? i : start + m;
      let sum = 0;
      let nz = 0;
      for (let k = start; k < stop; k++) {
        sum += bins[k];
        if (bins[k] !== 0) nz++;
      }
      for (let k = start; k < stop; k++) q[k] = bins[k] !== 0 ? sum / nz : 0;
    }
    const kl = klSmoothed(p, q, i);
    if (kl < best) {
      best = kl;
      bestI = i;
    }
    if (i < B) tail -= bins[i];
  }
  return { th: Math.min((bestI + 0.5) * h.binWidth, h.absMax) };
}

/**
 * MXNet's _smooth_distribution (eps 1e-4 moved onto the zero bins) on p and q, then
 * scipy.stats.entropy(p, q) = Σ p·ln(p/q) of the renormalised vectors; +inf when smoothing fails.
 */
function klSmoothed(p: Float64Array, q: Float64Array, n: number): number {
  const ps = smooth(p, n);
  const qs = smooth(q, n);
  if (!ps || !qs) return Infinity;
  let pSum = 0;
  let qSum = 0;
  for (let k = 0; k < n; k++) { pSum += ps[k]; qSum += qs[k]; }
  let kl = 0;
  for (let k = 0; k < n; k++) {
    if (ps[k] <= 0) continue;
    const pk = ps[k] / pSum;
    const qk = qs[k] / qSum;
    kl += pk * Math.log(pk / qk);
  }
  return kl;
}

function smooth(a: Float64Array, n: number, eps = 1e-4): Float64Array | undefined {
  let zeros = 0;
  for (let k = 0; k < n; k++) if (a[k] === 0) zeros++;
  const nonZeros = n - zeros;
  if (nonZeros === 0) return undefined;
  const eps1 = (eps * zeros) / nonZeros;
  if (eps1 >= 1) return undefined;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = a[k] === 0 ? eps : a[k] - eps1;
  return out;
}

export interface ThresholdOptions {
  /** percentile of |x| for 'percentile' (default 99.99). */
  percentile?: number;
  /** histogram resolution for 'mse' / 'entropy' on raw data (default 2048). */
  bins?: number;
}

/** Threshold by method name over raw activation values. */
export function computeThreshold(method: ThresholdMethod, data: ThresholdInput, bw: number, opts: ThresholdOptions = {}): ThresholdResult {
  checkBw(bw);
  switch (method) {
    case 'kl':
      return computeThresholdKL(data, bw);
    case 'max':
      return computeThresholdMax(data);
    case 'percentile':
      return computeThresholdPercentile(data, opts.percentile ?? 99.99);
    case 'mse':
      return computeThresholdMSEFromHist(absHistogram(data, opts.bins ?? DEFAULT_HIST_BINS), bw);
    case 'entropy':
      return computeThresholdEntropyFromHist(absHistogram(data, opts.bins ?? DEFAULT_HIST_BINS), bw);
    default:
      throw new ChaiqError(`unknown threshold method '${method as string}' (expected ${THRESHOLD_METHODS.join(', ')})`);
  }
}

export function checkBw(bw: number): void {
  if (!Number.isInteger(bw) || bw < 2 || bw > 32) throw new ChaiqError(`bit width must be an integer in [2, 32], got ${bw}`);
}

/** Power-of-two scale variant (chaidnn-semantics.md §4.8): th = 2^ceil(log2(th/(2^(bw-1)-1)))·(2^(bw-1)-1). */
export function snapPow2(th: number, bw: number): number {
  if (!(th > 0) || !Number.isFinite(th)) return th;
  const m = 2 ** (bw - 1) - 1;
  return Math.fround(2 ** Math.ceil(Math.log2(th / m)) * m);
}
