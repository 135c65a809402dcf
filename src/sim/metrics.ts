/**
 * Error metrics of a fixed-point run against the float run, accumulated over many images:
 * SQNR dB = 10·log10(Σx²/Σ(x−x̂)²), cosine similarity, max |x−x̂|, fraction of values on the rails.
 */
import { fixedErrorSumsOf, type ErrorSums, type ReluInPlace } from '../kernels/sim-metrics';

/** The sums of ErrorSums (saturated: values at the integer rails |q| ≥ 2^(bw-1)-1, fixed blobs only) over many blobs. */
export interface ErrorAcc extends ErrorSums {
  n: number;
  /** how many values had an integer representation (denominator of the saturation fraction) */
  nFixed: number;
}

export function newErrorAcc(): ErrorAcc {
  return { n: 0, sumRef2: 0, sumFix2: 0, sumDot: 0, sumErr2: 0, maxAbsErr: 0, saturated: 0, nFixed: 0 };
}

/**
 * The order of every error sum (JS loops and wasm/sim-metrics.c alike): the values in consecutive blocks of
 * ERROR_SUM_BLOCK, each block's terms added in index order from 0, the block sums then added block by block from
 * 0. Fixed, whatever the thread count, so that the blocks can run in SIMD lanes and on several threads.
 */
export const ERROR_SUM_BLOCK = 4096;

/** Adds one blob: `ref` float, `fix` dequantized fixed; `q`/`bw` the integers when the blob is fixed. */
export function accumulateError(acc: ErrorAcc, ref: ArrayLike<number>, fix: ArrayLike<number>, q?: Int32Array, bw?: number): void {
  const n = Math.min(ref.length, fix.length);
  // Math.abs/Math.max rather than branches on the sign: those mispredict on every other value
  let r2 = 0, f2 = 0, d = 0, e2 = 0, mx = acc.maxAbsErr;
  for (let i0 = 0; i0 < n; i0 += ERROR_SUM_BLOCK) {
    const i1 = Math.min(n, i0 + ERROR_SUM_BLOCK);
    let br2 = 0, bf2 = 0, bd = 0, be2 = 0;
    for (let i = i0; i < i1; i++) {
      const a = ref[i];
      const b = fix[i];
      const e = a - b;
      br2 += a * a;
      bf2 += b * b;
      bd += a * b;
      be2 += e * e;
      mx = Math.max(mx, Math.abs(e));
    }
    r2 += br2;
    f2 += bf2;
    d += bd;
    e2 += be2;
  }
  addSums(acc, n, r2, f2, d, e2, mx);
  if (q && bw !== undefined) addSaturation(acc, q, bw);
}

/**
 * accumulateError(acc, ref, dequantize(q, scale), q, bw) in one pass, without the dequantized array: the
 * same float32 values (q·scale rounded to float32) summed in the same order (ERROR_SUM_BLOCK), so the same sums bit
 * for bit.
 */
export function accumulateFixedError(acc: ErrorAcc, ref: Float32Array, q: Int32Array, scale: number, bw: number): void {
  accumulateFixedErrors(ref, [{ acc, q, scale, bw }]);
}

/** One fixed version of a reference and the accumulator its sums go to. */
export interface FixedErrorTerm {
  acc: ErrorAcc;
  q: Int32Array;
  scale: number;
  bw: number;
}

/**
 * accumulateFixedError for each term, against one reference: two terms (a layer's cumulative and local results)
 * in one pass over it on the wasm loop; a term whose integers and scale are the one before's adds its sums.
 * `relu`: also returns, unadded, the sums that accumulateFixedError would add for an in-place ReLU after the layer
 * (max(q, 0) of the first term against max(ref, 0) as the float ReLU writes it), in the same pass (addFixedSums
 * adds them later); undefined when the first term's length is not the reference's. `inPlace`: the pass may also
 * apply that ReLU to the first term's integers and their twin (fixedErrorSumsOf; `inPlace.applied` says if it did).
 */
export function accumulateFixedErrors(ref: Float32Array, terms: FixedErrorTerm[], relu = false, inPlace?: ReluInPlace): ErrorSums | undefined {
  const distinct = terms.filter((t, k) => k === 0 || !sameTerm(t, terms[k - 1]));
  const withRelu = relu && terms.length > 0 && terms[0].q.length === ref.length;
  const w = distinct.every((t) => t.q.length === ref.length)
    ? fixedErrorSumsOf(ref, distinct.map((t) => ({ q: t.q, scale: t.scale, m: 2 ** (t.bw - 1) - 1 })), withRelu, inPlace)
    : null;
  let j = -1;
  let sums: ErrorSums | undefined;
  terms.forEach((t, k) => {
    if (k === 0 || !sameTerm(t, terms[k - 1])) {
      j++;
      sums = w ? w[j] : fixedErrorSumsJs(ref, t.q, t.scale, t.bw);
    }
    if (!sums) {
      accumulateMismatched(t.acc, ref, t.q, t.scale, t.bw);
      return;
    }
    addFixedSums(t.acc, t.q.length, sums);
  });
  if (!withRelu) return undefined;
  return w ? w[distinct.length] : fixedErrorSumsJs(ref, terms[0].q, terms[0].scale, terms[0].bw, true);
}

/** Adds the sums of n fixed values (fixedErrorSumsOf's, or the JS loops') to acc. */
export function addFixedSums(acc: ErrorAcc, n: number, sums: ErrorSums): void {
  addSums(acc, n, sums.sumRef2, sums.sumFix2, sums.sumDot, sums.sumErr2, Math.max(acc.maxAbsErr, sums.maxAbsErr));
  acc.saturated += sums.saturated;
  acc.nFixed += n;
}

function sameTerm(a: FixedErrorTerm, b: FixedErrorTerm): boolean {
  return a.q === b.q && a.scale === b.scale && a.bw === b.bw;
}

/** A reference whose length is not the integers' (accumulateError's min length). */
function accumulateMismatched(acc: ErrorAcc, ref: Float32Array, q: Int32Array, scale: number, bw: number): void {
  const fix = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) fix[i] = q[i] * scale;
  accumulateError(acc, ref, fix, q, bw);
}

/**
 * The JS loop of the sums (maxAbsErr from 0: Math.max with the accumulator's is the same); undefined on a length
 * mismatch. `relu`: of max(ref, 0) (ref > 0 ? ref : +0, the float ReLU's values) against max(q, 0), without either
 * array.
 */
function fixedErrorSumsJs(ref: Float32Array, q: Int32Array, scale: number, bw: number, relu = false): ErrorSums | undefined {
  if (ref.length !== q.length) return undefined;
  const n = q.length;
  const m = 2 ** (bw - 1) - 1;
  const f32 = Math.fround;
  let r2 = 0, f2 = 0, d = 0, e2 = 0, mx = 0, sat = 0;
  for (let i0 = 0; i0 < n; i0 += ERROR_SUM_BLOCK) {
    const i1 = Math.min(n, i0 + ERROR_SUM_BLOCK);
    let br2 = 0, bf2 = 0, bd = 0, be2 = 0;
    for (let i = i0; i < i1; i++) {
      const x = ref[i];
      const a = relu ? (x > 0 ? x : 0) : x;
      const v = q[i];
      const qi = relu ? v & ~(v >> 31) : v;
      const b = f32(qi * scale);
      const e = a - b;
      br2 += a * a;
      bf2 += b * b;
      bd += a * b;
      be2 += e * e;
      mx = Math.max(mx, Math.abs(e));
      sat += Math.abs(qi) >= m ? 1 : 0;
    }
    r2 += br2;
    f2 += bf2;
    d += bd;
    e2 += be2;
  }
  return { sumRef2: r2, sumFix2: f2, sumDot: d, sumErr2: e2, maxAbsErr: mx, saturated: sat };
}

/** A NaN error makes the maximum +Infinity (Math.max gives NaN). */
function addSums(acc: ErrorAcc, n: number, r2: number, f2: number, d: number, e2: number, mx: number): void {
  acc.n += n;
  acc.sumRef2 += r2;
  acc.sumFix2 += f2;
  acc.sumDot += d;
  acc.sumErr2 += e2;
  acc.maxAbsErr = mx !== mx ? Infinity : mx;
}

function addSaturation(acc: ErrorAcc, q: Int32Array, bw: number): void {
  const m = 2 ** (bw - 1) - 1;
  let s = 0;
  for (let i = 0; i < q.length; i++) s += Math.abs(q[i]) >= m ? 1 : 0;
  acc.saturated += s;
  acc.nFixed += q.length;
}

export function mergeErrorAcc(into: ErrorAcc, from: ErrorAcc): void {
  into.n += from.n;
  into.sumRef2 += from.sumRef2;
  into.sumFix2 += from.sumFix2;
  into.sumDot += from.sumDot;
  into.sumErr2 += from.sumErr2;
  into.maxAbsErr = Math.max(into.maxAbsErr, from.maxAbsErr);
  into.saturated += from.saturated;
  into.nFixed += from.nFixed;
}

export interface ErrorSummary {
  /** +Infinity when the fixed values equal the float ones exactly */
  sqnrDb: number;
  cosine: number;
  maxAbsErr: number;
  /** null when the blob has no integer form (a float/ARM layer) */
  satFraction: number | null;
  count: number;
}

export function summarize(acc: ErrorAcc): ErrorSummary {
  const sqnrDb = acc.sumErr2 === 0 ? Infinity : acc.sumRef2 === 0 ? -Infinity : 10 * Math.log10(acc.sumRef2 / acc.sumErr2);
  const den = Math.sqrt(acc.sumRef2 * acc.sumFix2);
  const cosine = den === 0 ? (acc.sumRef2 === acc.sumFix2 ? 1 : 0) : acc.sumDot / den;
  return {
    sqnrDb,
    cosine,
    maxAbsErr: acc.maxAbsErr,
    satFraction: acc.nFixed ? acc.saturated / acc.nFixed : null,
    count: acc.n,
  };
}

/** One-image SQNR/cosine helper for tests and quick checks. */
export function compareArrays(ref: ArrayLike<number>, fix: ArrayLike<number>): ErrorSummary {
  const a = newErrorAcc();
  accumulateError(a, ref, fix);
  return summarize(a);
}

/** Indices of the k largest values, largest first (ties: lower index first, as a stable argsort). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, k);
}

/** Running top-1/top-5 agreement and accuracy counters. */
export interface ClassStats {
  images: number;
  top1Agree: number;
  /** the float top-1 is within the fixed top-5 */
  top5Agree: number;
  labelled: number;
  floatTop1: number;
  floatTop5: number;
  fixedTop1: number;
  fixedTop5: number;
}

export function newClassStats(): ClassStats {
  return { images: 0, top1Agree: 0, top5Agree: 0, labelled: 0, floatTop1: 0, floatTop5: 0, fixedTop1: 0, fixedTop5: 0 };
}

export function addClassification(s: ClassStats, floatScores: ArrayLike<number>, fixedScores: ArrayLike<number>, label?: number, k = 5): void {
  const tf = topK(floatScores, k);
  const tq = topK(fixedScores, k);
  s.images++;
  if (tf[0] === tq[0]) s.top1Agree++;
  if (tq.includes(tf[0])) s.top5Agree++;
  if (label !== undefined && label >= 0) {
    s.labelled++;
    if (tf[0] === label) s.floatTop1++;
    if (tf.includes(label)) s.floatTop5++;
    if (tq[0] === label) s.fixedTop1++;
    if (tq.includes(label)) s.fixedTop5++;
  }
}
