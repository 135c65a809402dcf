/**
 * Bit-faithful ports of the few numpy (1.x) routines the original quantizer relies on
 * (chaidnn-semantics.md §4.3). Only what ComputeThreshold needs; all in float64 unless noted.
 */

const f32 = Math.fround;

/** numpy's pairwise summation of a float64 run (PW_BLOCKSIZE 128, 8-way unroll). */
function pairwise(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= 128) {
    let r0 = a[start], r1 = a[start + 1], r2 = a[start + 2], r3 = a[start + 3];
    let r4 = a[start + 4], r5 = a[start + 5], r6 = a[start + 6], r7 = a[start + 7];
    let i = 8;
    const end = n - (n % 8);
    for (; i < end; i += 8) {
      const b = start + i;
      r0 += a[b]; r1 += a[b + 1]; r2 += a[b + 2]; r3 += a[b + 3];
      r4 += a[b + 4]; r5 += a[b + 5]; r6 += a[b + 6]; r7 += a[b + 7];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise(a, start, n2) + pairwise(a, start + n2, n - n2);
}

/** `np.sum` of a contiguous float64 vector: the reduction seeds with a[0] and pairwise-sums the rest. */
export function npSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n <= 0) return 0;
  return a[start] + pairwise(a, start + 1, n - 1);
}

/** `np.linspace(start, stop, num)` in float64 (endpoint=True). */
export function npLinspace(start: number, stop: number, num: number): Float64Array {
  const y = new Float64Array(num);
  const div = num - 1;
  if (div > 0) {
    const delta = stop - start;
    const step = delta / div;
    if (step === 0) for (let k = 0; k < num; k++) y[k] = (k / div) * delta + start;
    else for (let k = 0; k < num; k++) y[k] = k * step + start;
    y[num - 1] = stop;
  } else if (num === 1) {
    y[0] = start;
  }
  return y;
}

/**
 * `np.interp(x, xp, fp)` for increasing xp (no left/right overrides): exact-knot hits return fp[j],
 * otherwise `slope*(x-xp[j]) + fp[j]` with slope `(fp[j+1]-fp[j])/(xp[j+1]-xp[j])`.
 */
export function npInterp(x: ArrayLike<number>, xp: ArrayLike<number>, fp: ArrayLike<number>, out?: Float64Array): Float64Array {
  const res = out ?? new Float64Array(x.length);
  const m = xp.length;
  let j = 0;
  for (let k = 0; k < x.length; k++) {
    const xv = x[k];
    if (xv < xp[0]) { res[k] = fp[0]; continue; }
    if (xv >= xp[m - 1]) { res[k] = fp[m - 1]; continue; }
    // x is sorted in all our uses, but do a safe search anyway.
    if (!(xp[j] <= xv && xv < xp[j + 1])) {
      let lo = 0, hi = m - 1; // invariant xp[lo] <= xv < xp[hi]
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (xp[mid] <= xv) lo = mid; else hi = mid;
      }
      j = lo;
    }
    if (xp[j] === xv) { res[k] = fp[j]; continue; }
    const slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let r = slope * (xv - xp[j]) + fp[j];
    if (Number.isNaN(r)) {
      r = slope * (xv - xp[j + 1]) + fp[j + 1];
      if (Number.isNaN(r) && fp[j] === fp[j + 1]) r = fp[j];
    }
    res[k] = r;
  }
  return res;
}

/**
 * Bin count numpy's 'sqrt' estimator gives for `np.histogram(a, 'sqrt', range=(0, mx))` with a = |x|
 * (float32): width = float32(max(a)-min(a)) / sqrt(N) (float64), nbins = ceil(mx/width), 1 if width is 0.
 */
export function sqrtRuleBins(count: number, absMin: number, absMax: number): number {
  if (count <= 0) return 1;
  const ptp = f32(f32(absMax) - f32(absMin));
  const width = ptp / Math.sqrt(count);
  if (!width) return 1;
  return Math.ceil(f32(absMax) / width);
}

/**
 * Bin edges of `np.histogram(float32 data, nbins, range=(0, mx))` in numpy 1.x: linspace computed in
 * float64, then cast to float32 (the result dtype of (0, float32 mx, float32 a)).
 */
export function histogramEdges(mx: number, nbins: number): Float32Array {
  const e = new Float32Array(nbins + 1);
  const step = mx / nbins;
  for (let k = 0; k < nbins; k++) e[k] = k * step;
  e[nbins] = mx;
  return e;
}

/**
 * Accumulate `np.histogram(a, nbins, range=(0, mx))` counts of |x| for float32 x into `counts`
 * (numpy's fast path: index = int(float32(a * float32(nbins/mx))), then the ±1 correction against
 * the float32 edges; values outside [0, mx] are dropped, the last bin is closed).
 */
export function accumulateAbsHistogram(x: ArrayLike<number>, mx: number, nbins: number, edges: Float32Array, counts: Float64Array): void {
  const norm = f32(nbins / f32(mx));
  const last = edges[nbins];
  for (let k = 0; k < x.length; k++) {
    const a = f32(Math.abs(x[k]));
    if (!(a <= last)) continue; // also drops NaN
    let idx = Math.trunc(f32(a * norm));
    if (idx === nbins) idx -= 1;
    if (a < edges[idx]) idx -= 1;
    if (idx !== nbins - 1 && a >= edges[idx + 1]) idx += 1;
    counts[idx] += 1;
  }
}

/**
 * `np.sum` of vectors that share a fixed suffix: sum(a) where a[k] = suffix[k] for k >= from. Same
 * pairwise tree and arithmetic as npSum, but sub-blocks lying wholly in the suffix are memoised, so
 * ComputeThreshold's per-candidate divergence costs O(i) instead of O(nbins). Results are identical.
 */
export class SuffixPairwiseSum {
  private cache = new Map<number, number>();
  constructor(private readonly suffix: Float64Array) {}

  sum(a: Float64Array, from: number): number {
    const n = a.length;
    if (n <= 0) return 0;
    const first = from <= 0 ? this.suffix[0] : a[0];
    return first + this.pw(a, 1, n - 1, from);
  }

  private pw(a: Float64Array, start: number, n: number, from: number): number {
    if (start >= from) {
      const key = start * 4294967296 + n;
      let v = this.cache.get(key);
      if (v === undefined) {
        v = pairwise(this.suffix, start, n);
        this.cache.set(key, v);
      }
      return v;
    }
    if (start + n <= from || n <= 128) {
      if (start + n <= from) return pairwise(a, start, n);
      // mixed small block: materialise (a before `from`, suffix after)
      const tmp = new Float64Array(n);
      for (let k = 0; k < n; k++) tmp[k] = start + k < from ? a[start + k] : this.suffix[start + k];
      return pairwise(tmp, 0, n);
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return this.pw(a, start, n2, from) + this.pw(a, start + n2, n - n2, from);
  }
}
