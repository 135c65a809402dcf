/**
 * CHaiDNN's fixed-point arithmetic as pure functions on typed arrays (chaidnn-semantics §3.2–§3.5).
 * Integers travel as Int32Array; float intermediates that CHaiDNN computes in C `float` are rounded
 * to float32 with Math.fround at the same steps, so results are bit-exact against a float32 reference.
 */

/** QUANT_PREC_SHIFT (hw_settings.h): the requant multiplier and the bias live at 2^22 (§3.3). */
export const QUANT_PREC_SHIFT = 22;
/** The HW reads the multiplier as ap_uint<24>. */
export const MULT_LIMIT = 2 ** 24;
/** 18-bit partial-sum staging words (sat_24to18bit / add_sat). */
export const PSUM18_MIN = -131072;
export const PSUM18_MAX = 131071;
/** loadsf_avg_pool: bias_fbits = 16. */
export const AVG_POOL_SHIFT = 16;

import { concatResident, conv2d, convInt, convIntGemm, convIntWinograd, convRequantResident, convRequantResidentPair, intAbsMax, invalidateResident, kernelBackend, maxPoolResident, poolInWasm, reluResidentInPlace, requantDynamicFixedInt, requantXilinxInt, setSimWinograd, simDwStats, simGemmStats, simWinogradStats, type Requant, type SimWinogradMode } from '../kernels';
import { eltwiseAddResident } from '../kernels';

const f32 = Math.fround;
const TWO22 = 2 ** 22;
const TWO21 = 2 ** 21;
const SAFE = 2 ** 52;

/** C round(): half away from zero. */
export function roundHalfAway(x: number): number {
  // trunc(x) ± 1 when |x - trunc(x)| ≥ 0.5: branch-free (Math.round, Math.sign and a sign test each cost a
  // mispredicted branch on every other value of a tensor, ~10× the rest of a quantizer's loop); -0 gives +0
  const t = Math.trunc(x);
  const fr = x - t;
  return fr === fr ? t + Math.trunc(fr + fr) : t; // NaN, ±Infinity: as they are
}

/** Largest magnitude of the symmetric quantization range: 2^(bw-1)-1 (127, 31). */
export function qmax(bw: number): number {
  return 2 ** (bw - 1) - 1;
}

/** Asymmetric saturation after compute (saturation_fun): [-2^(bw-1), 2^(bw-1)-1]. */
export function saturate(y: number, bw: number): number {
  const hi = 2 ** (bw - 1) - 1;
  const lo = -(2 ** (bw - 1));
  return y > hi ? hi : y < lo ? lo : y;
}

/** sf(th, bw) = th/(2^(bw-1)-1), held in a C float (§3.2). */
export function scaleFactor(th: number, bw: number): number {
  return f32(th / qmax(bw));
}

// ---------------------------------------------------------------------------------------------
// Xilinx (threshold) mode

/**
 * Trim2FixedPoint_Offline (§3.3): q = round(clamp(d, ±th)/sf), C round(), float division.
 * th == 0 gives 0 (the clamp leaves nothing). Used for the network input, weights and bias.
 */
export function quantizeXilinx(x: ArrayLike<number>, th: number, bw: number, out?: Int32Array): Int32Array {
  const n = x.length;
  const q = out ?? new Int32Array(n);
  const thf = f32(th);
  if (thf === 0) {
    q.fill(0);
    return q;
  }
  const sf = scaleFactor(thf, bw);
  const m = qmax(bw);
  // clamps with Math.min/max: no branches in the loop
  for (let i = 0; i < n; i++) {
    const d = Math.min(Math.max(x[i], -thf), thf);
    q[i] = Math.min(Math.max(roundHalfAway(f32(d / sf)), -m), m);
  }
  return q;
}

/**
 * The SW→HW format converter (xi_format_converter_top.cpp `pack`): q = floor(clamp(f,±th)·(1/sf) + 0.5),
 * i.e. round half UP, used where a float (ARM) layer feeds a HW layer.
 */
export function quantizeXilinxPack(x: ArrayLike<number>, th: number, bw: number, out?: Int32Array): Int32Array {
  const n = x.length;
  const q = out ?? new Int32Array(n);
  const thf = f32(th);
  if (thf === 0) {
    q.fill(0);
    return q;
  }
  const inv = f32(1 / scaleFactor(thf, bw));
  const m = qmax(bw);
  for (let i = 0; i < n; i++) {
    const d = Math.min(Math.max(x[i], -thf), thf);
    q[i] = Math.min(Math.max(Math.floor(f32(f32(d * inv) + 0.5)), -m), m);
  }
  return q;
}

/** Weights per output channel c (loadConvWgtsTXT): q = Trim2FixedPoint_Offline(w, bwParams, thParams[c]). */
export function quantizeWeightsXilinx(w: Float32Array | number[], outC: number, thParams: ArrayLike<number>, bwParams: number): Int32Array {
  const per = w.length / outC;
  const q = new Int32Array(w.length);
  for (let c = 0; c < outC; c++) {
    const seg = q.subarray(c * per, (c + 1) * per);
    const src = Array.isArray(w) ? w.slice(c * per, (c + 1) * per) : w.subarray(c * per, (c + 1) * per);
    quantizeXilinx(src, thParams[c], bwParams, seg);
  }
  return q;
}

/** Bias at the OUTPUT scale (loadConvBiasTXT): b_q = round(clamp(b,±thOut)/sfOut); the HW adds b_q·2^22. */
export function quantizeBiasXilinx(b: ArrayLike<number>, thOut: number, bwOut: number): Int32Array {
  return quantizeXilinx(b, thOut, bwOut);
}

/**
 * Per-channel requant multiplier S[c] = round(sf_w[c]·sf_in/sf_out·2^22), each factor a C float (§3.3).
 * Values ≥ 2^24 do not fit the HW's ap_uint<24>; they are returned as computed and listed in `overflow`.
 */
export function requantMultipliers(
  thParams: ArrayLike<number>, bwParams: number, thIn: number, bwIn: number, thOut: number, bwOut: number,
): { S: Float64Array; overflow: number[] } {
  const sfIn = scaleFactor(thIn, bwIn);
  const sfOut = scaleFactor(thOut, bwOut);
  const S = new Float64Array(thParams.length);
  const overflow: number[] = [];
  for (let c = 0; c < thParams.length; c++) {
    const sfW = scaleFactor(thParams[c], bwParams);
    const m = sfOut === 0 ? 0 : f32(f32(f32(sfW * sfIn) / sfOut) * TWO22);
    S[c] = roundHalfAway(m);
    if (S[c] >= MULT_LIMIT) overflow.push(c);
  }
  return { S, overflow };
}

/** sign(t)·((|t| + 2^(shift-1)) >> shift) for an exact integer t held in a double (|t| < 2^52). */
function roundShift(t: number, shift: number): number {
  if (shift <= 0) return t * 2 ** -shift;
  const p = 2 ** shift;
  const h = 2 ** (shift - 1);
  return t >= 0 ? Math.floor((t + h) / p) : -Math.floor((-t + h) / p);
}

function roundShiftBig(t: bigint, shift: number): number {
  if (shift <= 0) return Number(t << BigInt(-shift));
  const h = 1n << BigInt(shift - 1);
  const s = BigInt(shift);
  return t >= 0n ? Number((t + h) >> s) : -Number((-t + h) >> s);
}

/**
 * Xilinx requant of one output channel's accumulators:
 * t = acc·S + b_q·2^22; y = sat_bw(sign(t)·((|t|+2^21)>>22)); ReLU (fused) after saturation.
 * Exact: double arithmetic while |t| < 2^52, BigInt beyond.
 */
export function requantXilinx(acc: ArrayLike<number>, S: number, bq: number, bw: number, relu: boolean, out: Int32Array, outOff = 0, accOff = 0, n = acc.length - accOff): void {
  const bterm = bq * TWO22;
  const hi = 2 ** (bw - 1) - 1;
  const lo = relu ? 0 : -(2 ** (bw - 1));
  const babs = Math.abs(bterm);
  if (!(acc instanceof Float64Array) && S * 2 ** 31 + babs < SAFE) {
    // int32 / float32 accumulators (|a| ≤ 2^31): t is exact in a double, no BigInt check per value
    for (let i = 0; i < n; i++) {
      const t = acc[accOff + i] * S + bterm;
      const y = t >= 0 ? Math.floor((t + TWO21) / TWO22) : -Math.floor((TWO21 - t) / TWO22);
      out[outOff + i] = y > hi ? hi : y < lo ? lo : y;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const a = acc[accOff + i];
    let y: number;
    if ((a < 0 ? -a : a) * S + babs < SAFE) {
      const t = a * S + bterm;
      y = t >= 0 ? Math.floor((t + TWO21) / TWO22) : -Math.floor((-t + TWO21) / TWO22);
    } else {
      y = roundShiftBig(BigInt(a) * BigInt(S) + BigInt(bterm), QUANT_PREC_SHIFT);
    }
    // saturate to [-2^(bw-1), 2^(bw-1)-1], then the fused ReLU (y<0 → 0) — together a clamp at lo
    out[outOff + i] = y > hi ? hi : y < lo ? lo : y;
  }
}

// ---------------------------------------------------------------------------------------------
// DynamicFixed (bw/fl) mode, §3.4

/** Trim2FixedPoint(d, bw, fl, ROUND_NEAREST) as the integer q = round(clamp(d)·2^fl), range [-2^(bw-1), 2^(bw-1)-1]. */
export function quantizeDynamicFixed(x: ArrayLike<number>, bw: number, fl: number, out?: Int32Array): Int32Array {
  const n = x.length;
  const q = out ?? new Int32Array(n);
  const p = 2 ** fl;
  const hi = 2 ** (bw - 1) - 1;
  const lo = -(2 ** (bw - 1));
  const maxv = hi * 2 ** -fl;
  const minv = lo * 2 ** -fl;
  for (let i = 0; i < n; i++) {
    const d = Math.min(Math.max(x[i], minv), maxv);
    q[i] = Math.min(Math.max(roundHalfAway(d * p), lo), hi); // scaling a float by 2^fl is exact
  }
  return q;
}

/** Trim2FixedPoint as a float value (the dequantized result). */
export function trim2FixedPoint(d: number, bw: number, fl: number): number {
  const step = 2 ** -fl;
  const c = Math.max(Math.min(d, qmax(bw) * step), -(2 ** (bw - 1)) * step);
  return roundHalfAway(c / step) * step;
}

/** The DynamicFixed conv bias word: HCONV_BIAS_TYPE is a C `short` (hw_settings.h), read by the HW as ap_int<16>. */
export const DF_BIAS_MIN = -32768;
export const DF_BIAS_MAX = 32767;

/** The bias before it is stored: Trim2FixedPoint(b, opBw, opFl), then ConvertToFP(·, ipFl+wtFl) = (int)(b·2^fbits), a truncating C cast. */
export function dynamicFixedBiasValue(b: number, opBw: number, opFl: number, ipFl: number, wtFl: number): number {
  return Math.trunc(trim2FixedPoint(b, opBw, opFl) * 2 ** (ipFl + wtFl));
}

/**
 * DynamicFixed bias as the HW adds it to the accumulator: dynamicFixedBiasValue stored in a 16-bit word, which
 * wraps (two's complement, as the ARM's int → short conversion) when the value does not fit.
 */
export function quantizeBiasDynamicFixed(b: ArrayLike<number>, opBw: number, opFl: number, ipFl: number, wtFl: number): Int32Array {
  const out = new Int32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = (dynamicFixedBiasValue(b[i], opBw, opFl, ipFl, wtFl) << 16) >> 16;
  return out;
}

/** Channels whose DynamicFixed bias does not fit the 16-bit word (they wrap on the board). */
export function dynamicFixedBiasOverflows(b: ArrayLike<number>, opBw: number, opFl: number, ipFl: number, wtFl: number): number[] {
  const over: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const v = dynamicFixedBiasValue(b[i], opBw, opFl, ipFl, wtFl);
    if (v > DF_BIAS_MAX || v < DF_BIAS_MIN) over.push(i);
  }
  return over;
}

/**
 * DynamicFixed requant: t = acc + bias; shift = ipFl+wtFl-opFl; y = sign(t)·((|t| + 2^(shift-1)) >> shift)
 * (shift ≤ 0: a left shift), saturated to the output bw; ReLU after saturation.
 */
export function requantDynamicFixed(acc: ArrayLike<number>, biasInt: number, shift: number, bw: number, relu: boolean, out: Int32Array, outOff = 0): void {
  // per-call constants hoisted: this loop runs once per output value of every DynamicFixed conv
  const hi = 2 ** (bw - 1) - 1;
  const lo = relu ? 0 : -(2 ** (bw - 1));
  const up = 2 ** Math.max(0, -shift);
  const p = shift > 0 ? 2 ** shift : 1;
  const h = shift > 0 ? 2 ** (shift - 1) : 0;
  for (let i = 0; i < acc.length; i++) {
    const t = acc[i] + biasInt;
    let y: number;
    if ((t < 0 ? -t : t) * up >= SAFE) y = roundShiftBig(BigInt(t), shift);
    else if (shift <= 0) y = t * up;
    else y = t >= 0 ? Math.floor((t + h) / p) : -Math.floor((-t + h) / p);
    out[outOff + i] = y > hi ? hi : y < lo ? lo : y;
  }
}

/** Re-express DynamicFixed integers of `flFrom` fraction bits at `flTo` (rounding shift) and saturate. */
export function rescaleDynamicFixed(q: Int32Array, flFrom: number, flTo: number, bw: number): Int32Array {
  if (flFrom === flTo) return q;
  const out = new Int32Array(q.length);
  requantDynamicFixed(q, 0, flFrom - flTo, bw, false, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Integer convolution

export interface ConvGeom {
  inC: number; inH: number; inW: number;
  outC: number; outH: number; outW: number;
  kH: number; kW: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  dilH: number; dilW: number;
  group: number;
}

export function convOutSize(inSize: number, k: number, pad: number, stride: number, dil: number): number {
  return Math.floor((inSize + 2 * pad - (dil * (k - 1) + 1)) / stride) + 1;
}

/**
 * Exact integer accumulators of a (grouped, dilated) convolution for one image:
 * acc[oc, oh, ow] = Σ_{ic,kh,kw} x[ic, ..]·w[oc, ic, kh, kw], returned as Float64Array (integers, exact < 2^53).
 * With `psum18` the running sum is saturated to 18 bits after EVERY add, in the order
 * ic (within the group) → kh → kw ("channel-major running sum with saturating add").
 */
export function convAccumulate(x: Int32Array, w: Int32Array, g: ConvGeom, psum18 = false): Float64Array {
  const { inC, inH, inW, outC, outH, outW, kH, kW, strideH, strideW, padH, padW, dilH, dilW, group } = g;
  const icPer = inC / group;
  const ocPer = outC / group;
  const P = outH * outW;
  const K = icPer * kH * kW;
  const acc = new Float64Array(outC * P);
  // im2col per group: col[k][p], k = (icl·kH + kh)·kW + kw (the accumulation order), padding taps = 0
  const col = new Int32Array(K * P);
  for (let gi = 0; gi < group; gi++) {
    col.fill(0);
    for (let icl = 0; icl < icPer; icl++) {
      const xoff = (gi * icPer + icl) * inH * inW;
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          const row = ((icl * kH + kh) * kW + kw) * P;
          const c0 = kw * dilW - padW;
          const owStart = Math.max(0, Math.ceil(-c0 / strideW));
          const owEnd = Math.min(outW, Math.floor((inW - 1 - c0) / strideW) + 1);
          for (let oh = 0; oh < outH; oh++) {
            const ih = oh * strideH - padH + kh * dilH;
            if (ih < 0 || ih >= inH) continue;
            const xb = xoff + ih * inW + c0;
            const cb = row + oh * outW;
            for (let ow = owStart; ow < owEnd; ow++) col[cb + ow] = x[xb + ow * strideW];
          }
        }
      }
    }
    const oc0 = gi * ocPer;
    if (psum18) {
      // saturating running sum, per output in k order; adding a 0 tap never changes a saturated sum
      for (let o = 0; o < ocPer; o++) {
        const oc = oc0 + o;
        const a = acc.subarray(oc * P, (oc + 1) * P);
        for (let k = 0; k < K; k++) {
          const wv = w[oc * K + k];
          if (wv === 0) continue;
          const cb = k * P;
          for (let p = 0; p < P; p++) {
            let s = a[p] + wv * col[cb + p];
            if (s > PSUM18_MAX) s = PSUM18_MAX;
            else if (s < PSUM18_MIN) s = PSUM18_MIN;
            a[p] = s;
          }
        }
      }
      continue;
    }
    // exact integer GEMM, 4 output channels per pass to reuse each col row
    let o = 0;
    for (; o + 4 <= ocPer; o += 4) {
      const oc = oc0 + o;
      const a0 = oc * P, a1 = a0 + P, a2 = a1 + P, a3 = a2 + P;
      const w0 = oc * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      for (let k = 0; k < K; k++) {
        const v0 = w[w0 + k], v1 = w[w1 + k], v2 = w[w2 + k], v3 = w[w3 + k];
        if ((v0 | v1 | v2 | v3) === 0) continue;
        const cb = k * P;
        for (let p = 0; p < P; p++) {
          const c = col[cb + p];
          acc[a0 + p] += v0 * c;
          acc[a1 + p] += v1 * c;
          acc[a2 + p] += v2 * c;
          acc[a3 + p] += v3 * c;
        }
      }
    }
    for (; o < ocPer; o++) {
      const oc = oc0 + o;
      const a0 = oc * P;
      for (let k = 0; k < K; k++) {
        const v = w[oc * K + k];
        if (v === 0) continue;
        const cb = k * P;
        for (let p = 0; p < P; p++) acc[a0 + p] += v * col[cb + p];
      }
    }
  }
  return acc;
}

/**
 * Which kernel computes the accumulators: 'auto' (default) the exact-float32 SIMD kernel where it is provably
 * exact, else the int16 dot-product kernel where its int32 sums cannot overflow, else the JS loops; 'float' the
 * float kernel or JS (no integer kernel); 'int' the integer kernel wherever it fits, else JS; 'js' always JS.
 */
export type IntConvBackend = 'auto' | 'float' | 'int' | 'js' | 'wino';
let intConvBackend: IntConvBackend = 'auto';
let winoMode0: SimWinogradMode | null = null;
/** 'wino': the integer Winograd kernel (kernels/sim-winograd.ts) on every 3x3 stride-1 conv it can take, the integer GEMM on every other ungrouped one, else as 'auto'. */
export function setIntConvBackend(b: IntConvBackend): void {
  intConvBackend = b;
  if (b === 'wino' && winoMode0 === null) winoMode0 = setSimWinograd('force');
  else if (b !== 'wino' && winoMode0 !== null) {
    setSimWinograd(winoMode0);
    winoMode0 = null;
  }
}

/** How many convolutions each path computed (tests and the bench read it). */
export const intConvPaths = { float: 0, int: 0, js: 0, wino: 0, gemm: 0, dw: 0 };

interface WeightBounds {
  wf?: Float32Array;
  /** max over output channels of Σ|w_c|: every partial sum of channel c is at most max|x|·Σ|w_c| in magnitude */
  maxRowAbsSum: number;
  /** every weight is an int16 */
  int16: boolean;
}
const weightBounds = new WeakMap<Int32Array, WeightBounds>();

function boundsOf(w: Int32Array, outC: number): WeightBounds {
  let b = weightBounds.get(w);
  if (b) return b;
  const per = w.length / outC;
  let m = 0;
  let wMax = 0;
  // Math.abs/Math.max rather than branches on the sign (they mispredict on every other weight)
  for (let c = 0; c < outC; c++) {
    let s = 0;
    for (let i = c * per; i < (c + 1) * per; i++) {
      const v = Math.abs(w[i]);
      s += v;
      wMax = Math.max(wMax, v);
    }
    m = Math.max(m, s);
  }
  b = { maxRowAbsSum: m, int16: wMax <= 32767 };
  weightBounds.set(w, b);
  return b;
}

/**
 * The exact accumulators. On the float32 SIMD kernels when every partial sum is an integer below 2^24
 * (max|x|·Σ|w_c| < 2^24: float32 adds are then exact in any order); else on the int16 dot-product kernel when
 * the operands are int16 and max|x|·Σ|w_c| < 2^31 (its int32 sums wrap mod 2^32, so a final sum below 2^31 is
 * exact); else by convAccumulate. psum18 always takes the JS path (its order matters).
 */
export function convAccumulateAuto(x: Int32Array, w: Int32Array, g: ConvGeom, psum18 = false): ArrayLike<number> {
  const be = intConvBackend;
  if (!psum18 && be !== 'js') {
    const b = boundsOf(w, g.outC);
    const xMax = intAbsMax(x);
    const bound = xMax * b.maxRowAbsSum;
    const wino = (be === 'auto' || be === 'wino') && b.int16 ? convIntWinograd(x, w, g, b.maxRowAbsSum, xMax) : null;
    if (wino) {
      intConvPaths.wino++;
      return wino;
    }
    const gemm = (be === 'auto' || be === 'wino') && b.int16 ? convIntGemm(x, w, g, b.maxRowAbsSum, xMax) : null;
    if (gemm) {
      intConvPaths.gemm++;
      return gemm;
    }
    if (be !== 'int' && bound < 2 ** 24) {
      b.wf ??= Float32Array.from(w);
      const out = new Float32Array(g.outC * g.outH * g.outW);
      conv2d(new Float32Array(x), b.wf, null, g, out);
      intConvPaths.float++;
      return out;
    }
    if (be !== 'float' && b.int16 && bound < 2 ** 31) {
      intConvPaths.int++;
      return convInt(x, w, g);
    }
  }
  intConvPaths.js++;
  return convAccumulate(x, w, g, psum18);
}

let wasmRequant = true;
/** Requantize conv accumulators in wasm (default) or in the JS loops (tests compare the two). */
export function setWasmRequant(on: boolean): void {
  wasmRequant = on;
}

/**
 * The exact-float32 path with its input and output kept in wasm memory and the requantization in the same
 * memory (src/kernels/sim-conv.ts): the same integers as convAccumulateAuto + requant. null when it does not
 * apply (psum18, a forced backend, JS requant, no wasm or room, the 2^24 bound).
 */
function residentConv(x: Int32Array, w: Int32Array, g: ConvGeom, psum18: boolean, rq: Requant, lo: number, hi: number): Int32Array | null {
  if (psum18 || !wasmRequant || (intConvBackend !== 'auto' && intConvBackend !== 'float' && intConvBackend !== 'wino')) return null;
  const b = boundsOf(w, g.outC);
  b.wf ??= Float32Array.from(w);
  const w0 = simWinogradStats.convs;
  const g0 = simGemmStats.convs;
  const d0 = simDwStats.convs;
  const q = convRequantResident(x, b.wf, g, b.maxRowAbsSum, rq, lo, hi, intConvBackend !== 'float' ? w : undefined);
  if (q) intConvPaths[simWinogradStats.convs > w0 ? 'wino' : simGemmStats.convs > g0 ? 'gemm' : simDwStats.convs > d0 ? 'dw' : 'float']++;
  return q;
}

let convPairs = true;
/** Whether convPair runs its two inputs in one call when it can (default) or always one after the other (tests compare). */
export function setConvPairs(on: boolean): void {
  convPairs = on;
}

/** Conv weights and requantization of one layer, in either mode (convPair). */
export type ConvLayer =
  | { mode: 'Xilinx'; w: Int32Array; bq: Int32Array | null; S: ArrayLike<number> }
  | { mode: 'DynamicFixed'; w: Int32Array; biasInt: Int32Array | null; shift: number };

/**
 * One layer's conv on two inputs of the same geometry (the simulator's fixed and local runs): both in one kernel
 * call on the integer Winograd / GEMM when both take it (each packed weight block read once for the two), else
 * one after the other. The same integers as convXilinx / convDynamicFixed on each.
 */
export function convPair(x0: Int32Array, x1: Int32Array, L: ConvLayer, g: ConvGeom, bwOut: number, relu: boolean, psum18 = false): [Int32Array, Int32Array] {
  const lo = relu ? 0 : -(2 ** (bwOut - 1));
  const hi = 2 ** (bwOut - 1) - 1;
  if (convPairs && !psum18 && wasmRequant && (intConvBackend === 'auto' || intConvBackend === 'wino')) {
    const rq: Requant = L.mode === 'Xilinx' ? { mode: 'Xilinx', S: L.S, bq: L.bq } : { mode: 'DynamicFixed', bias: L.biasInt, shift: L.shift };
    const w0 = simWinogradStats.convs;
    const d0 = simDwStats.convs;
    const pair = convRequantResidentPair(x0, x1, g, boundsOf(L.w, g.outC).maxRowAbsSum, rq, lo, hi, L.w);
    if (pair) {
      intConvPaths[simWinogradStats.convs > w0 ? 'wino' : simDwStats.convs > d0 ? 'dw' : 'gemm'] += 2;
      return pair;
    }
  }
  const one = (x: Int32Array): Int32Array => L.mode === 'Xilinx'
    ? convXilinx(x, L.w, L.bq, L.S, g, bwOut, relu, psum18)
    : convDynamicFixed(x, L.w, L.biasInt, L.shift, g, bwOut, relu, psum18);
  return [one(x0), one(x1)];
}

/** Full Xilinx-mode conv on one image: accumulate, then requant channel by channel. */
export function convXilinx(
  x: Int32Array, w: Int32Array, bq: Int32Array | null, S: ArrayLike<number>, g: ConvGeom,
  bwOut: number, relu: boolean, psum18 = false,
): Int32Array {
  const lo = relu ? 0 : -(2 ** (bwOut - 1));
  const res = residentConv(x, w, g, psum18, { mode: 'Xilinx', S, bq }, lo, 2 ** (bwOut - 1) - 1);
  if (res) return res;
  const acc = convAccumulateAuto(x, w, g, psum18);
  const fast = wasmRequant && (acc instanceof Float32Array || acc instanceof Int32Array)
    ? requantXilinxInt(acc, S, bq, g.outC, relu ? 0 : -(2 ** (bwOut - 1)), 2 ** (bwOut - 1) - 1) : null;
  if (fast) return fast;
  const plane = g.outH * g.outW;
  const out = new Int32Array(acc.length);
  for (let c = 0; c < g.outC; c++) {
    requantXilinx(acc, S[c], bq ? bq[c] : 0, bwOut, relu, out, c * plane, c * plane, plane);
  }
  return out;
}

/** Full DynamicFixed conv on one image. */
export function convDynamicFixed(
  x: Int32Array, w: Int32Array, biasInt: Int32Array | null, shift: number, g: ConvGeom,
  bwOut: number, relu: boolean, psum18 = false,
): Int32Array {
  const lo = relu ? 0 : -(2 ** (bwOut - 1));
  const res = residentConv(x, w, g, psum18, { mode: 'DynamicFixed', bias: biasInt, shift }, lo, 2 ** (bwOut - 1) - 1);
  if (res) return res;
  const acc = convAccumulateAuto(x, w, g, psum18);
  const fast = wasmRequant && (acc instanceof Float32Array || acc instanceof Int32Array)
    ? requantDynamicFixedInt(acc, biasInt, shift, g.outC, relu ? 0 : -(2 ** (bwOut - 1)), 2 ** (bwOut - 1) - 1) : null;
  if (fast) return fast;
  const plane = g.outH * g.outW;
  const out = new Int32Array(acc.length);
  for (let c = 0; c < g.outC; c++) {
    requantDynamicFixed((acc as Float64Array).subarray(c * plane, (c + 1) * plane), biasInt ? biasInt[c] : 0, shift, bwOut, relu, out, c * plane);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pooling, Eltwise, ReLU, Concat in the integer domain

export interface PoolGeom {
  C: number; inH: number; inW: number; outH: number; outW: number;
  kH: number; kW: number; strideH: number; strideW: number; padH: number; padW: number;
}

/** Caffe's pooling output size (ceil mode, last window must start inside the padded image). */
export function poolOutSize(inSize: number, k: number, pad: number, stride: number): number {
  let o = Math.ceil((inSize + 2 * pad - k) / stride) + 1;
  if (pad > 0 && (o - 1) * stride >= inSize + pad) o--;
  return o;
}

/** Whether every pooling window of one axis overlaps the image (first and last window suffice). */
export function windowsNonEmpty(inS: number, outS: number, k: number, stride: number, pad: number): boolean {
  const last = (outS - 1) * stride - pad;
  return outS >= 1 && k - pad > 0 && last < inS;
}

/**
 * MAX pooling on the float32 pooling kernel (both threads): exact on integers below 2^24 in magnitude, since
 * float32 holds them and max commutes with the conversion. undefined when it does not apply.
 */
function maxPoolOnFloatKernel(x: Int32Array, g: PoolGeom): Int32Array | undefined {
  if (kernelBackend() !== 'wasm' || x.length < 4096) return undefined;
  if (!windowsNonEmpty(g.inH, g.outH, g.kH, g.strideH, g.padH) || !windowsNonEmpty(g.inW, g.outW, g.kW, g.strideW, g.padW)) return undefined;
  if (intAbsMax(x) > 16777216) return undefined;
  const y = new Float32Array(g.C * g.outH * g.outW);
  try {
    const geo = { kh: g.kH, kw: g.kW, ph: g.padH, pw: g.padW, sh: g.strideH, sw: g.strideW, oh: g.outH, ow: g.outW };
    if (!poolInWasm(true, new Float32Array(x), y, g.C, g.inH, g.inW, geo)) return undefined;
  } catch (e) {
    if (e instanceof RangeError) return undefined; // memory cannot grow
    throw e;
  }
  return new Int32Array(y);
}

/** MAX pooling on integers: the max over the window clipped to the image (Caffe semantics; exact). */
export function maxPoolInt(x: Int32Array, g: PoolGeom): Int32Array {
  if (windowsNonEmpty(g.inH, g.outH, g.kH, g.strideH, g.padH) && windowsNonEmpty(g.inW, g.outW, g.kW, g.strideW, g.padW)) {
    const geo = { kh: g.kH, kw: g.kW, ph: g.padH, pw: g.padW, sh: g.strideH, sw: g.strideW, oh: g.outH, ow: g.outW };
    const res = maxPoolResident(x, g.C, g.inH, g.inW, geo); // on the float twin in wasm memory (src/kernels/sim-conv.ts)
    if (res) return res;
  }
  return maxPoolOnFloatKernel(x, g) ?? maxPoolIntJs(x, g);
}

export function maxPoolIntJs(x: Int32Array, g: PoolGeom): Int32Array {
  const { C, inH, inW, outH, outW, kH, kW, strideH, strideW, padH, padW } = g;
  const out = new Int32Array(C * outH * outW);
  for (let c = 0; c < C; c++) {
    const xo = c * inH * inW;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = Math.max(oh * strideH - padH, 0);
      const h1 = Math.min(oh * strideH - padH + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = Math.max(ow * strideW - padW, 0);
        const w1 = Math.min(ow * strideW - padW + kW, inW);
        let m = -2147483648;
        for (let h = h0; h < h1; h++) {
          const r = xo + h * inW;
          for (let w = w0; w < w1; w++) {
            const v = x[r + w];
            if (v > m) m = v;
          }
        }
        out[(c * outH + oh) * outW + ow] = h1 > h0 && w1 > w0 ? m : 0;
      }
    }
  }
  return out;
}

/** The avg-pool multiplier A = (short)((1/(kH·kW))·2^16), truncated by the C cast (loadsf_avg_pool). */
export function avgPoolMultiplier(kH: number, kW: number): number {
  return Math.trunc(f32(f32(1 / f32(kH * kW)) * 2 ** AVG_POOL_SHIFT));
}

/**
 * AVE pooling as CHaiDNN runs it (OPCODE_AVRPOOL2CONV): a depthwise conv with all-ones weights,
 * the window sum s over the padded input (padding and out-of-image taps are 0), then
 * y = sat(sign(t)·((|t| + 2^15) >> 16)), t = s·A, A = avgPoolMultiplier(kH, kW): the divisor is always kH·kW.
 * `divisor: 'caffe'` instead uses Caffe's per-window count (window clipped to the padded image, as
 * PoolingLayer does) in A — a what-if to separate that border effect from quantization.
 * `extraShift` (DynamicFixed fl_in − fl_out) is added to the shift.
 */
export function avePoolInt(x: Int32Array, g: PoolGeom, bwOut: number, extraShift = 0, divisor: 'chaidnn' | 'caffe' = 'chaidnn'): Int32Array {
  const { C, inH, inW, outH, outW, kH, kW, strideH, strideW, padH, padW } = g;
  const A0 = avgPoolMultiplier(kH, kW);
  const out = new Int32Array(C * outH * outW);
  const sh = AVG_POOL_SHIFT + extraShift;
  const p = 2 ** sh;
  const half = sh > 0 ? 2 ** (sh - 1) : 0;
  const hi = 2 ** (bwOut - 1) - 1;
  const lo = -(2 ** (bwOut - 1));
  for (let c = 0; c < C; c++) {
    const xo = c * inH * inW;
    for (let oh = 0; oh < outH; oh++) {
      const hs = oh * strideH - padH;
      const h0 = Math.max(hs, 0);
      const h1 = Math.min(hs + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const ws = ow * strideW - padW;
        const w0 = Math.max(ws, 0);
        const w1 = Math.min(ws + kW, inW);
        let s = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x[xo + h * inW + w];
        let A = A0;
        if (divisor === 'caffe') {
          const ph = Math.min(hs + kH, inH + padH) - hs;
          const pw = Math.min(ws + kW, inW + padW) - ws;
          A = avgPoolMultiplier(ph, pw);
        }
        const t = s * A;
        const y = sh <= 0 ? t * 2 ** -sh : t >= 0 ? Math.floor((t + half) / p) : -Math.floor((-t + half) / p);
        out[(c * outH + oh) * outW + ow] = y > hi ? hi : y < lo ? lo : y;
      }
    }
  }
  return out;
}

/** Eltwise SUM in HW: a plain saturating integer add, no rescale (§3.3); ReLU after saturation when fused. */
export function eltwiseAddInt(inputs: Int32Array[], bw: number, relu = false): Int32Array {
  const n = inputs[0].length;
  const hi = 2 ** (bw - 1) - 1;
  const lo = relu ? 0 : -(2 ** (bw - 1));
  const res = eltwiseAddResident(inputs, lo, hi); // resident, with its twin (src/kernels/sim-conv.ts)
  if (res) return res;
  const out = new Int32Array(n);
  if (inputs.length === 2) {
    const [a, b] = inputs;
    for (let i = 0; i < n; i++) {
      const s = a[i] + b[i];
      out[i] = s > hi ? hi : s < lo ? lo : s;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const a of inputs) s += a[i];
    out[i] = s > hi ? hi : s < lo ? lo : s;
  }
  return out;
}

/** max(x, 0), into `out` (which may be x itself). */
export function reluInt(x: Int32Array, into?: Int32Array): Int32Array {
  if (into === x && reluResidentInPlace(x)) return x; // its twin too, in wasm memory
  if (into) invalidateResident(into);
  const out = into ?? new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v & ~(v >> 31); // max(v, 0) without a branch on the sign
  }
  return out;
}

/** Concat along channels (axis 1) for one image: CHaiDNN deletes it, producers write one buffer. */
export function concatInt(inputs: Int32Array[]): Int32Array {
  const res = concatResident(inputs); // the twins too, in wasm memory (src/kernels/sim-conv.ts)
  if (res) return res;
  let n = 0;
  for (const a of inputs) n += a.length;
  const out = new Int32Array(n);
  let off = 0;
  for (const a of inputs) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// BatchNorm + Scale folding (§3.5) and DynamicFixed weight fraction bits

/**
 * Folds in-place BN (+Scale) into conv weights: S = gamma/sqrt(var+eps); W' = W·S; b' = S(b−mean)+beta,
 * with mean/var divided by the BN moving-average factor blobs[2][0] (0 → factor 0, as Caffe).
 */
export function foldBatchNorm(
  W: Float32Array, b: Float32Array | null, outC: number,
  bn: { mean: ArrayLike<number>; variance: ArrayLike<number>; factor: number; eps: number } | null,
  scale: { gamma: ArrayLike<number>; beta: ArrayLike<number> | null } | null,
): { W: Float32Array; b: Float32Array } {
  const per = W.length / outC;
  const W2 = new Float32Array(W.length);
  const b2 = new Float32Array(outC);
  const f = bn ? (bn.factor === 0 ? 0 : 1 / bn.factor) : 1;
  for (let c = 0; c < outC; c++) {
    const mean = bn ? bn.mean[c] * f : 0;
    const v = bn ? bn.variance[c] * f : 1;
    const inv = bn ? 1 / Math.sqrt(v + bn.eps) : 1;
    const gamma = scale ? scale.gamma[c] : 1;
    const beta = scale && scale.beta ? scale.beta[c] : 0;
    const s = gamma * inv;
    for (let i = 0; i < per; i++) W2[c * per + i] = W[c * per + i] * s;
    b2[c] = s * ((b ? b[c] : 0) - mean) + beta;
  }
  return { W: W2, b: b2 };
}

/** DynamicFixed wt_fl after folding (§3.5): bw − int_bits; int_bits = 1 if max<1, 2 if max==1, else ceil(|log2 max|)+1. */
export function foldedWeightFl(W: ArrayLike<number>, bw: number): number {
  let m = 0;
  for (let i = 0; i < W.length; i++) m = Math.max(m, Math.abs(W[i]));
  const intBits = m < 1 ? 1 : m === 1 ? 2 : Math.ceil(Math.abs(Math.log2(m))) + 1;
  return bw - intBits;
}

/** getAbsMaxPerFilter: th[o] = max|W[o,...]| (the fallback when th_params are absent). */
export function absMaxPerFilter(W: ArrayLike<number>, outC: number): Float32Array {
  const per = W.length / outC;
  const th = new Float32Array(outC);
  for (let c = 0; c < outC; c++) {
    let m = 0;
    for (let i = 0; i < per; i++) m = Math.max(m, Math.abs(W[c * per + i]));
    th[c] = m;
  }
  return th;
}
