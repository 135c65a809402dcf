/**
 * Integer convolution for the fixed-point simulator: int16 operands (Int8Array, Int16Array, or Int32Array
 * holding values in [-32768, 32767]), int32 accumulators, on the wasm module's i32x4.dot_i16x8_s kernel over
 * the worker pool. Accumulators wrap mod 2^32 like Math.imul/`| 0` arithmetic (exact, and so independent of
 * summation order, whenever every partial sum fits in int32: max|x|·Σ|w of a channel| < 2^31). No bias, no
 * requantization: the caller does the fixed-point steps.
 */
import { getThreads, rt, workersFor } from './config';
import type { Conv2dParams } from './types';
import { cachedOperand } from './weight-cache';
import { JOB_ICONV, type WasmRuntime } from './wasm-runtime';

export type IntOperand = Int8Array | Int16Array | Int32Array;

/** pixels per im2col block in kernels.c (IPIX): chunks of pixels handed to threads are multiples of it */
const IPIX = 32;

function checkGeometry(x: IntOperand, w: IntOperand, p: Conv2dParams): void {
  const G = p.group;
  if (!(G >= 1) || p.inC % G !== 0 || p.outC % G !== 0) throw new Error(`convInt: group ${G} does not divide ${p.inC}/${p.outC}`);
  if (x.length < p.inC * p.inH * p.inW) throw new Error(`convInt: input has ${x.length} values, needs ${p.inC * p.inH * p.inW}`);
  const wLen = p.outC * (p.inC / G) * p.kH * p.kW;
  if (w.length < wLen) throw new Error(`convInt: weights have ${w.length} values, need ${wLen}`);
  const oh = Math.floor((p.inH + 2 * p.padH - (p.dilH * (p.kH - 1) + 1)) / p.strideH) + 1;
  const ow = Math.floor((p.inW + 2 * p.padW - (p.dilW * (p.kW - 1) + 1)) / p.strideW) + 1;
  if (oh !== p.outH || ow !== p.outW) throw new Error(`convInt: output ${p.outH}x${p.outW} does not match the geometry (${oh}x${ow})`);
}

function fitsInt16(a: IntOperand, n: number): boolean {
  if (!(a instanceof Int32Array)) return true;
  for (let i = 0; i < n; i++) if (a[i] !== (a[i] << 16) >> 16) return false;
  return true;
}

/** The plain JS integer convolution (wrapping int32 sums); also the fallback without wasm. */
export function convIntJs(x: IntOperand, w: IntOperand, p: Conv2dParams, out: Int32Array): void {
  const Cg = p.inC / p.group;
  const Mg = p.outC / p.group;
  const K = Cg * p.kH * p.kW;
  const N = p.outH * p.outW;
  for (let oc = 0; oc < p.outC; oc++) {
    const g = Math.floor(oc / Mg);
    for (let oh = 0; oh < p.outH; oh++) {
      for (let ow = 0; ow < p.outW; ow++) {
        let s = 0;
        for (let c = 0; c < Cg; c++) {
          const xc = (g * Cg + c) * p.inH * p.inW;
          for (let ki = 0; ki < p.kH; ki++) {
            const ih = oh * p.strideH - p.padH + ki * p.dilH;
            if (ih < 0 || ih >= p.inH) continue;
            for (let kj = 0; kj < p.kW; kj++) {
              const iw = ow * p.strideW - p.padW + kj * p.dilW;
              if (iw < 0 || iw >= p.inW) continue;
              s = (s + Math.imul(x[xc + ih * p.inW + iw], w[oc * K + (c * p.kH + ki) * p.kW + kj])) | 0;
            }
          }
        }
        out[oc * N + oh * p.outW + ow] = s;
      }
    }
  }
}

function writeIntParams(r: WasmRuntime, p: Conv2dParams): number {
  const a = r.alloc(16);
  const v = [p.inC, p.inH, p.inW, p.outC, p.outH, p.outW, p.kH, p.kW, p.strideH, p.strideW, p.padH, p.padW, p.dilH, p.dilW, p.group, 0];
  r.I32().set(v, a >>> 2);
  return a;
}

/** Copy n values of a as int16 to byte address addr. */
function putInt16(r: WasmRuntime, a: IntOperand, n: number, addr: number): void {
  const dst = new Int16Array(r.F32().buffer, addr, n);
  if (a instanceof Int16Array) dst.set(a.subarray(0, n));
  else for (let i = 0; i < n; i++) dst[i] = a[i];
}

/**
 * acc[oc, oh, ow] = Σ over (ic in oc's group, kh, kw) of x[ic, ih, iw]·w[oc, ic, kh, kw] for one image
 * x [inC, inH, inW] (zero padding, stride, dilation, groups with Caffe's geometry; outH/outW must match it).
 * Returns `out` (or a new Int32Array [outC·outH·outW]).
 */
export function convInt(x: IntOperand, w: IntOperand, p: Conv2dParams, out?: Int32Array): Int32Array {
  checkGeometry(x, w, p);
  const N = p.outH * p.outW;
  const res = out ?? new Int32Array(p.outC * N);
  if (res.length < p.outC * N) throw new Error(`convInt: output has ${res.length} values, needs ${p.outC * N}`);
  const inSize = p.inC * p.inH * p.inW;
  const Kg = (p.inC / p.group) * p.kH * p.kW;
  const wLen = p.outC * Kg;
  const r = rt();
  if (!r || !fitsInt16(x, inSize) || !fitsInt16(w, wLen)) {
    convIntJs(x, w, p, res);
    return res;
  }
  const KP = (Kg + 7) & ~7;
  const threads = getThreads();
  const bytes = 2 * inSize + 2 * p.outC * KP + 4 * p.outC * N + (threads + 1) * (IPIX * KP * 2 + 64) + (1 << 20);
  if (!r.canHold(bytes + 2 * p.outC * KP)) {
    convIntJs(x, w, p, res);
    return res;
  }
  const idle = workersFor(r, wLen * N);
  r.reset();
  let pw = cachedOperand(r, w, wLen, `iconv:${p.outC}:${Kg}`, Math.ceil((p.outC * KP) / 2), (addr) => {
    r.reset();
    const pP = writeIntParams(r, p);
    const raw = r.alloc(Math.ceil(wLen / 2));
    putInt16(r, w, wLen, raw);
    r.ex.iconv_pack_w(pP, raw, addr);
  });
  if (!r.canHold(bytes)) {
    r.flushCache();
    pw = -1;
  }
  r.reset();
  const pP = writeIntParams(r, p);
  const px = r.alloc(Math.ceil(inSize / 2) + 8);
  putInt16(r, x, inSize, px);
  if (pw < 0) {
    const raw = r.alloc(Math.ceil(wLen / 2));
    putInt16(r, w, wLen, raw);
    pw = r.alloc(Math.ceil((p.outC * KP) / 2));
    r.ex.iconv_pack_w(pP, raw, pw);
  }
  const pout = r.alloc(p.outC * N);
  const T = idle.length + 1;
  const wsF = Math.ceil(r.ex.iconv_ws_bytes(pP) / 4);
  const ws = Array.from({ length: T }, () => r.alloc(wsF));
  const ch = T === 1 ? N : Math.max(IPIX, Math.ceil(N / (4 * T) / IPIX) * IPIX);
  const nc = Math.ceil(N / ch);
  r.parallel(JOB_ICONV, ws.map((wsT) => [pP, px, pw, pout, N, ch, nc, wsT]), idle);
  res.set(r.I32().subarray(pout >>> 2, (pout >>> 2) + p.outC * N));
  return res;
}

interface RequantExports {
  requant_xilinx(acc: number, isF32: number, out: number, C: number, plane: number, S: number, bq: number, lo: number, hi: number): void;
  requant_dynfixed(acc: number, isF32: number, out: number, C: number, plane: number, bias: number, shift: number, lo: number, hi: number): void;
}

/** Stages acc in wasm memory, runs `f(accAddr, isF32, outAddr)`, returns the int32 results; null without wasm or room. */
function requantStaged(acc: Float32Array | Int32Array, extraFloats: number, f: (r: WasmRuntime, ex: RequantExports, a: number, isF32: number, o: number) => void): Int32Array | null {
  const r = rt();
  const n = acc.length;
  if (!r || !r.canHold(8 * n + 4 * extraFloats + 4096)) return null;
  r.reset();
  const a = r.alloc(n);
  if (acc instanceof Float32Array) r.F32().set(acc, a >>> 2);
  else r.I32().set(acc, a >>> 2);
  const o = r.alloc(n);
  f(r, r.ex as unknown as RequantExports, a, acc instanceof Float32Array ? 1 : 0, o);
  return r.I32().slice(o >>> 2, (o >>> 2) + n);
}

/**
 * Xilinx requantization of exact integer accumulators [C][plane] (int32, or float32 holding integers), in
 * wasm int64 arithmetic: y = clamp(sign(t)·((|t|+2^21)>>22)), t = acc·S[c] + bq[c]·2^22, clamped to [lo, hi].
 * null (the caller's JS loop runs) without wasm, or when some S[c] or |bq[c]| is 2^31 or more.
 */
export function requantXilinxInt(acc: Float32Array | Int32Array, S: ArrayLike<number>, bq: ArrayLike<number> | null, C: number, lo: number, hi: number): Int32Array | null {
  for (let c = 0; c < C; c++) {
    if (!(S[c] >= 0 && S[c] < 2 ** 31 && Number.isInteger(S[c]))) return null;
    if (bq && !(Math.abs(bq[c]) < 2 ** 31)) return null;
  }
  const plane = acc.length / C;
  return requantStaged(acc, 4 * C, (r, ex, a, isF32, o) => {
    const pS = r.putF64(Float64Array.from(S));
    const pB = r.putF64(bq ? Float64Array.from(bq) : new Float64Array(C));
    ex.requant_xilinx(a, isF32, o, C, plane, pS, pB, lo, hi);
  });
}

/**
 * DynamicFixed requantization: t = acc + bias[c]; y = sign(t)·((|t| + 2^(shift-1)) >> shift), or t·2^-shift when
 * shift ≤ 0, clamped to [lo, hi]. null without wasm or for a shift outside [-30, 61].
 */
export function requantDynamicFixedInt(acc: Float32Array | Int32Array, bias: Int32Array | null, shift: number, C: number, lo: number, hi: number): Int32Array | null {
  if (!(shift >= -30 && shift <= 61)) return null;
  const plane = acc.length / C;
  return requantStaged(acc, C, (r, ex, a, isF32, o) => {
    const pB = r.alloc(C);
    if (bias) r.I32().set(bias.subarray(0, C), pB >>> 2);
    else r.I32().fill(0, pB >>> 2, (pB >>> 2) + C);
    ex.requant_dynfixed(a, isF32, o, C, plane, pB, shift, lo, hi);
  });
}

/** max |x[i]| (2^31 for a -2^31), on the wasm SIMD loop when available. */
export function intAbsMax(x: Int32Array): number {
  const r = rt();
  const n = x.length;
  if (r && n >= 1024 && r.canHold(4 * n + 4096)) {
    r.reset();
    const a = r.alloc(n);
    r.I32().set(x, a >>> 2);
    const m = (r.ex as unknown as { iabsmax(x: number, n: number): number }).iabsmax(a, n);
    return m < 0 ? 2 ** 31 : m;
  }
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i] < 0 ? -x[i] : x[i];
    if (v > m) m = v;
  }
  return m;
}
