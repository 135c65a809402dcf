/**
 * Exact integer Winograd F(2x2,3x3) for the simulator's 3x3, stride-1, dilation-1, group-1 convolutions
 * (wasm/sim-winograd.c): transformed weights U' = G'gG'ᵀ with G' = 2G (integers, |U'| ≤ 9·max|w|), transformed
 * input V = BᵀdB (|V| ≤ 4·max|x|), both int16, per-point channel sums on i32x4.dot_i16x8_s, and an output
 * transform that gives 4y in int32 sums wrapping mod 2^32: exact (in any order) whenever 4·max|x|·Σ|w_c| < 2^31.
 * 16 multiplications per 2x2 outputs instead of 36. Every other ungrouped conv runs the same micro-kernel as a
 * GEMM over im2col rows (simGemmAt). Both write int32 sums equal to convIntJs's, integer for integer.
 */
import { rt, workersFor } from './config';
import { intAbsMax, type IntOperand } from './int-conv';
import type { Conv2dParams } from './types';
import { cachedOperand } from './weight-cache';
import { JOB_SIM_WINO, type WasmRuntime } from './wasm-runtime';

interface SimWinoExports {
  simw_ws_words(p: number, R: number): number;
  simw_pack_w(p: number, w: number, Up: number): void;
  simw_part(p: number, x: number, Up: number, out: number, R: number, b: number, k0: number, k1: number, ws: number): void;
  simg_pack_w(p: number, w: number, Wp: number): void;
  /** the int8 GEMM (wasm/sim-gemm-i8.c): only in the relaxed-SIMD build */
  simq_pack_w?(p: number, w: number, Wq: number): void;
}

export type SimWinogradMode = 'auto' | 'force' | 'off';
let mode: SimWinogradMode = process.env.CHAIQ_SIM_WINOGRAD === '0' ? 'off' : 'auto';
/**
 * 'auto' (default; CHAIQ_SIM_WINOGRAD=0 makes it 'off'): the integer Winograd path where its shape pays;
 * 'force': wherever the kernel takes the shape (tests); 'off': never. Returns the previous mode.
 */
export function setSimWinograd(m: SimWinogradMode): SimWinogradMode {
  const prev = mode;
  mode = m;
  return prev;
}

/** Convolutions (images) run on the integer Winograd path (tests, benches). */
export const simWinogradStats = { convs: 0 };

/** Largest operands whose transforms fit int16: |V| ≤ 4·max|x|, |U'| ≤ 9·max|w|. */
export const SIMW_MAX_X = 8191;
export const SIMW_MAX_W = 3640;

/** Whether conv p takes the integer Winograd path (its shape, and the mode). */
export function simWinogradShape(p: Conv2dParams): boolean {
  if (mode === 'off' || !(p.kH === 3 && p.kW === 3 && p.strideH === 1 && p.strideW === 1 && p.dilH === 1 && p.dilW === 1 && p.group === 1)) return false;
  return mode === 'force' || (p.outH >= MIN_OUT && p.outW >= MIN_OUT && p.inC >= MIN_IN_C && p.outC >= MIN_OUT_C);
}

/** Below these the transforms do not pay (measured on the sim bench's shapes). */
const MIN_OUT = 3;
const MIN_IN_C = 8;
const MIN_OUT_C = 8;

/**
 * Whether the sums are exact for inputs with max |x| = xAbsMax and weights with max |w| = wAbsMax and largest
 * Σ|w_c| = maxRowAbsSum: int16 transforms and 4·|y| < 2^31.
 */
export function simWinogradFits(xAbsMax: number, wAbsMax: number, maxRowAbsSum: number): boolean {
  return xAbsMax <= SIMW_MAX_X && wAbsMax <= SIMW_MAX_W && 4 * xAbsMax * maxRowAbsSum < 2 ** 31;
}

const wMax = new WeakMap<IntOperand, number>();
/** max |w| of a weight array (cached: the simulator's weights do not change). */
export function weightAbsMax(w: IntOperand): number {
  let m = wMax.get(w);
  if (m !== undefined) return m;
  m = 0;
  // Math.abs/Math.max: a branch on the sign mispredicts on every other weight (~7× slower)
  for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]));
  wMax.set(w, m);
  return m;
}

const TILES_PER_BLOCK = 64;
/** transformed input of a block within this (it is read once per 4 output channels) */
const V_BYTES = 512 << 10;

function blockRows(p: Conv2dParams): number {
  const tw = Math.ceil(p.outW / 2);
  const th = Math.ceil(p.outH / 2);
  let R = Math.max(1, Math.min(th, Math.round(TILES_PER_BLOCK / tw)));
  while (R > 1 && 16 * 2 * Math.ceil(p.inC / 2) * 2 * Math.ceil((R * tw) / 8) * 8 > V_BYTES) R--;
  return R;
}

/**
 * ConvP (kernels.c); word 16: the address of the transformed input the threads share, 17: a GEMM conv's pixel
 * block, 18-20: a second image's input and output (simw_part), 21: set by an int8 GEMM block whose input is not in
 * [0, 127] (simq_block)
 */
function writeParams(r: WasmRuntime, p: Conv2dParams, second?: SecondImage): number {
  const a = r.alloc(22);
  r.I32().set([p.inC, p.inH, p.inW, p.outC, p.outH, p.outW, p.kH, p.kW, p.strideH, p.strideW, p.padH, p.padW, p.dilH, p.dilW, p.group, 0, 0, 0,
    second ? 1 : 0, second?.x ?? 0, second?.out ?? 0, 0], a >>> 2);
  return a;
}

/**
 * A second image convolved in the same call (the same weights, read once per block for both): the byte addresses
 * of its input and its output, both outside the arena.
 */
export interface SecondImage { x: number; out: number }

/** Calls that convolved two images at once (tests, benches). */
export const simPairStats = { calls: 0 };

/** Upper bound of the arena bytes a call needs besides x and out (weights, workspaces, the shared input transform). */
function arenaBytes(p: Conv2dParams, threads: number): number {
  const kp = Math.ceil(p.outC / 4) * 4;
  const c2 = Math.ceil(p.inC / 2);
  const tw = Math.ceil(p.outW / 2);
  const sw = 2 * (Math.ceil(tw / 4) * 4) + 8;
  const ws = (R: number): number => {
    const nbp = Math.ceil((R * tw) / 8) * 8;
    return 2 * (2 * R + 2) * sw + 16 * c2 * nbp + 64 * nbp + 64;
  };
  const R = Math.max(blockRows(p), Math.ceil(p.outH / 2));
  return 4 * (16 * kp * c2 + p.outC * p.inC * 9 + (threads + 1) * (ws(R) + 16) + ws(R) + 256) + 4096;
}

/**
 * out = conv(x, w), int32, on the calling thread and idle workers. x: the byte address of the input outside the
 * arena (a zone block), or an array to stage in the arena; outAddr: the output's address outside the arena, or -1
 * for one in the arena. The caller has checked simWinogradShape and simWinogradFits. Resets the arena. Returns
 * the output's address, or -1 (nothing done) without room.
 */
export function simWinogradAt(r: WasmRuntime, x: number | Int32Array, w: Int32Array, p: Conv2dParams, outAddr: number, second?: SecondImage): number {
  const ex = r.ex as unknown as SimWinoExports;
  const wLen = p.outC * p.inC * 9;
  const idle = workersFor(r, wLen * p.outH * p.outW);
  const T = idle.length + 1;
  const inSize = p.inC * p.inH * p.inW;
  const images = second ? 2 : 1;
  // too few blocks to go round: the threads share the map step by step (input transform by channel pairs, then
  // output channels), rather than each redoing a block's input transform for a share of the output channels
  const th = Math.ceil(p.outH / 2);
  const R0 = blockRows(p);
  const nb = Math.ceil(th / R0);
  const shared = T > 1 && images * nb < 2 * T;
  if (second && (shared || typeof x !== 'number' || outAddr < 0)) return -1; // a pair: each image on its own then
  const staged = 4 * ((typeof x === 'number' ? 0 : inSize + 16) + (outAddr < 0 ? p.outC * p.outH * p.outW + 16 : 0));
  const need = arenaBytes(p, T) + staged;
  if (!r.canHold(need)) return -1;
  const wWords = 16 * Math.ceil(p.outC / 4) * 4 * Math.ceil(p.inC / 2);
  const pU = packedWeights(r, w, wLen, `simw:${p.outC}:${p.inC}`, wWords, need, (top, raw, addr) => ex.simw_pack_w(top, raw, addr), p);
  const pP = writeParams(r, p, second);
  let xAddr = x as number;
  if (typeof x !== 'number') {
    xAddr = r.alloc(inSize);
    r.I32().set(x.subarray(0, inSize), xAddr >>> 2);
  }
  if (outAddr < 0) outAddr = r.alloc(p.outC * p.outH * p.outW);
  const R = shared ? th : R0;
  const wsW = ex.simw_ws_words(pP, R);
  const ws = Array.from({ length: T }, () => r.alloc(wsW));
  const job = (Rarg: number, nb: number, n: number, align: number): void => {
    const ch = !shared ? n : Math.max(align, Math.ceil(n / (4 * T) / align) * align);
    const nK = Math.ceil(n / ch);
    r.parallel(JOB_SIM_WINO, ws.map((wsT) => [pP, xAddr, pU, outAddr, Rarg, nK, ch, nb * nK, wsT]), idle);
  };
  if (shared) {
    const nbp = Math.ceil((th * Math.ceil(p.outW / 2)) / 8) * 8;
    const pV = r.alloc(16 * Math.ceil(p.inC / 2) * nbp + 64);
    r.I32()[(pP >>> 2) + 16] = pV;
    job(-1, 1, Math.ceil(p.inC / 2), 1);
    job(-2, 1, p.outC, 4);
  } else {
    job(R, images * nb, p.outC, 4);
  }
  simWinogradStats.convs += images;
  if (second) simPairStats.calls++;
  return outAddr;
}

/**
 * The integer Winograd convolution of one image with staged operands: acc[oc, oh, ow] as convInt / convIntJs
 * (int32, wrapping). null when it does not apply (no wasm, the shape, the int16 / 2^31 bounds, no room).
 * xAbsMax: max |x| when the caller knows it.
 */
export function convIntWinograd(x: Int32Array, w: Int32Array, p: Conv2dParams, maxRowAbsSum: number, xAbsMax?: number, out?: Int32Array): Int32Array | null {
  return simWinogradShape(p) ? convStaged(x, w, p, p.outC * p.inC * 9, maxRowAbsSum, xAbsMax, out, simWinogradFits, simWinogradAt) : null;
}

/** A staged convolution on one of this file's kernels (`at`), when its operands' bounds `fit`. */
function convStaged(x: Int32Array, w: Int32Array, p: Conv2dParams, wLen: number, maxRowAbsSum: number, xAbsMax: number | undefined, out: Int32Array | undefined,
  fits: (xAbsMax: number, wAbsMax: number, maxRowAbsSum: number) => boolean, at: typeof simWinogradAt): Int32Array | null {
  const r = rt();
  if (!r) return null;
  const inSize = p.inC * p.inH * p.inW;
  const n = p.outC * p.outH * p.outW;
  if (x.length < inSize || w.length < wLen || (out && out.length < n)) return null;
  if (!fits(xAbsMax ?? intAbsMax(x.subarray(0, inSize)), weightAbsMax(w), maxRowAbsSum)) return null;
  const oa = at(r, x, w, p, -1);
  if (oa < 0) return null;
  const res = out ?? new Int32Array(n);
  res.set(r.I32().subarray(oa >>> 2, (oa >>> 2) + n));
  return res;
}

// ---- Any ungrouped convolution on the same micro-kernel (wasm/sim-winograd.c simg_block): a GEMM of int16 pairs over
// im2col rows (c, kh, kw), gathered per block of output pixels (a 1x1 stride-1 unpadded conv reads them in place)

/** Rows of conv p's im2col matrix: C·kH·kW. */
function gemmRows(p: Conv2dParams): number {
  return p.inC * p.kH * p.kW;
}

/** Whether conv p is an ungrouped conv the integer GEMM takes (and the mode allows it). */
export function simGemmShape(p: Conv2dParams): boolean {
  return mode !== 'off' && p.group === 1 && p.outH > 0 && p.outW > 0 && (mode === 'force' || (gemmRows(p) >= 8 && p.outC >= 8));
}

/** Exact int32 sums of int16 operands: max|x|·Σ|w_c| < 2^31. */
export function simGemmFits(xAbsMax: number, wAbsMax: number, maxRowAbsSum: number): boolean {
  return xAbsMax <= 32767 && wAbsMax <= 32767 && xAbsMax * maxRowAbsSum < 2 ** 31;
}

/** Convolutions (images) run on the integer GEMM. */
export const simGemmStats = { convs: 0 };

/**
 * pixels of a block: its packed input within ~256 KB, a multiple of 8. A gathered (im2col) conv whose map gives
 * the `threads` fewer than two blocks each takes smaller ones: cutting a block by output channels instead would
 * gather it once per share, which costs more than the GEMM on small maps.
 */
function gemmBlock(p: Conv2dParams, threads: number, images: number): number {
  const n = p.outH * p.outW;
  const nb = Math.floor((256 << 10) / (4 * Math.ceil(gemmRows(p) / 2)) / 8) * 8;
  const NB = Math.max(8, Math.min(256, nb, Math.ceil(n / 8) * 8));
  if (threads === 1 || isDirect(p) || images * Math.ceil(n / NB) >= 2 * threads) return NB;
  return Math.max(8, Math.min(NB, Math.floor((images * n) / (2 * threads) / 8) * 8));
}

/** A 1x1 stride-1 unpadded conv: the GEMM reads its rows in place (simg_direct). */
function isDirect(p: Conv2dParams): boolean {
  return p.kH === 1 && p.kW === 1 && p.strideH === 1 && p.strideW === 1 && p.padH === 0 && p.padW === 0 && p.outH === p.inH && p.outW === p.inW;
}

/**
 * The packed weights' address: from the weight cache, else packed at the arena's start (the packing's scratch,
 * params and raw weights allocated above them, dropped after it). The arena is reset to just above them.
 */
function packedWeights(r: WasmRuntime, w: Int32Array, wLen: number, layout: string, wWords: number, need: number, packW: (params: number, raw: number, addr: number) => void, p: Conv2dParams): number {
  const pack = (addr: number): void => {
    const top = writeParams(r, p);
    const raw = r.alloc(wLen);
    r.I32().set(w.subarray(0, wLen), raw >>> 2);
    packW(top, raw, addr);
  };
  r.reset();
  let pU = cachedOperand(r, w, wLen, layout, wWords, (addr) => {
    r.reset();
    pack(addr);
  });
  if (pU >= 0 && !r.canHold(need)) {
    r.flushCache();
    pU = -1;
  }
  r.reset();
  if (pU < 0) {
    pU = r.alloc(wWords);
    const mark = r.alloc(0);
    pack(pU);
    r.reset();
    r.alloc((mark - pU) / 4);
  }
  return pU;
}

/**
 * As simWinogradAt, for a conv of simGemmShape. On the int8 GEMM (simGemmI8Takes) when it may apply; when some
 * im2col value is outside [0, 127] that call computes nothing and the conv runs again on the int16 one.
 */
export function simGemmAt(r: WasmRuntime, x: number | Int32Array, w: Int32Array, p: Conv2dParams, outAddr: number, second?: SecondImage): number {
  const ex = r.ex as unknown as SimWinoExports;
  const C = gemmRows(p), Kc = p.outC, N = p.outH * p.outW, inSize = p.inC * p.inH * p.inW;
  const wLen = Kc * C;
  if (second && (typeof x !== 'number' || outAddr < 0)) return -1;
  const images = second ? 2 : 1;
  const idle = workersFor(r, wLen * N);
  const T = idle.length + 1;
  const NB = gemmBlock(p, T, images);
  const i8 = simGemmI8Takes(ex, w, wLen);
  // words per pair of im2col rows (int16), or per quad (int8)
  const cw = i8 ? Math.ceil(C / 4) : Math.ceil(C / 2);
  const wWords = Math.ceil(Kc / 4) * 4 * cw;
  // a thread's workspace: the block's packed rows V, a 4×8 panel, the gathered rows (2 or 4 of NB), slack
  const wsW = cw * NB + (i8 ? 4 : 2) * NB + 96;
  const need = 4 * (wWords + wLen + (T + 1) * (wsW + 16) + (typeof x === 'number' ? 0 : inSize + 16) + (outAddr < 0 ? Kc * N + 16 : 0) + 256) + 4096;
  if (!r.canHold(need)) return -1;
  const pU = i8
    ? packedWeights(r, w, wLen, `simq:${Kc}:${C}`, wWords, need, (top, raw, addr) => ex.simq_pack_w!(top, raw, addr), p)
    : packedWeights(r, w, wLen, `simg:${Kc}:${C}`, wWords, need, (top, raw, addr) => ex.simg_pack_w(top, raw, addr), p);
  const pP = writeParams(r, p, second);
  r.I32()[(pP >>> 2) + 17] = NB;
  let xAddr = x as number;
  if (typeof x !== 'number') {
    xAddr = r.alloc(inSize);
    r.I32().set(x.subarray(0, inSize), xAddr >>> 2);
  }
  const out0 = outAddr;
  if (outAddr < 0) outAddr = r.alloc(Kc * N);
  const ws = Array.from({ length: T }, () => r.alloc(wsW));
  const nb = images * Math.ceil(N / NB);
  const panels = Math.ceil(Kc / 4);
  // few pixel blocks for the threads: each chunk takes a share of the output channels too (and repacks its block)
  const nk = T === 1 || nb >= 2 * T ? 1 : Math.min(panels, Math.ceil((3 * T) / nb));
  const kch = Math.ceil(panels / nk) * 4;
  const nK = Math.ceil(Kc / kch);
  r.parallel(JOB_SIM_WINO, ws.map((wsT) => [pP, xAddr, pU, outAddr, i8 ? -4 : -3, nK, kch, nb * nK, wsT]), idle);
  if (i8 && r.I32()[(pP >>> 2) + 21] !== 0) {
    i8Refused.add(w);
    simGemmI8Stats.refused++;
    return simGemmAt(r, x, w, p, out0, second);
  }
  if (i8) simGemmI8Stats.convs += images;
  simGemmStats.convs += images;
  if (second) simPairStats.calls++;
  return outAddr;
}

// ---- The int8 GEMM (wasm/sim-gemm-i8.c, relaxed-SIMD build): relaxed_dot_i8x16_i7x16, exact for im2col values in
// [0, 127] (the fixed chain's and the local runs' 8-bit activations after a ReLU) and weights in [-128, 127]

let i8Mode: 'auto' | 'off' = process.env.CHAIQ_SIM_GEMM_I8 === '0' ? 'off' : 'auto';
/** 'auto' (default; CHAIQ_SIM_GEMM_I8=0 makes it 'off'): the int8 GEMM where it may apply; 'off': never. Returns the previous mode. */
export function setSimGemmI8(m: 'auto' | 'off'): 'auto' | 'off' {
  const prev = i8Mode;
  i8Mode = m;
  return prev;
}

/**
 * Convolutions (images) the int8 GEMM computed, and calls it gave back (an input value outside [0, 127]: the conv
 * ran on the int16 GEMM, and so does every later call with the same weights).
 */
export const simGemmI8Stats = { convs: 0, refused: 0 };

/**
 * Weights whose input was once outside [0, 127]: such an input (a signed one, as an image's) is likely to be again,
 * so later calls go straight to the int16 GEMM instead of paying a refused call first (speed only: both are exact).
 */
const i8Refused = new WeakSet<Int32Array>();

const wRange = new WeakMap<Int32Array, boolean>();
/** Whether every weight is in [-128, 127] (cached: the simulator's weights do not change). */
function weightsInt8(w: Int32Array, wLen: number): boolean {
  let ok = wRange.get(w);
  if (ok !== undefined) return ok;
  ok = true;
  for (let i = 0; i < wLen && ok; i++) ok = w[i] >= -128 && w[i] <= 127;
  wRange.set(w, ok);
  return ok;
}

/** Whether a GEMM conv with weights w tries the int8 kernel: the relaxed build, 8-bit weights, no earlier refusal. */
function simGemmI8Takes(ex: SimWinoExports, w: Int32Array, wLen: number): boolean {
  return i8Mode === 'auto' && typeof ex.simq_pack_w === 'function' && !i8Refused.has(w) && weightsInt8(w, wLen);
}

/** The integer GEMM of one image with staged operands (as convIntWinograd); null when it does not apply. */
export function convIntGemm(x: Int32Array, w: Int32Array, p: Conv2dParams, maxRowAbsSum: number, xAbsMax?: number, out?: Int32Array): Int32Array | null {
  return simGemmShape(p) ? convStaged(x, w, p, p.outC * gemmRows(p), maxRowAbsSum, xAbsMax, out, simGemmFits, simGemmAt) : null;
}
