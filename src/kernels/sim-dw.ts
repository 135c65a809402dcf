/**
 * The simulator's exact integer depthwise convolution (group == inC == outC, any kernel size, stride, padding,
 * dilation; wasm/sim-dw.c) with the requantization fused into its output write: int16 pairs of input rows on
 * i32x4.dot_i16x8_s, int32 sums that wrap (exact when max|x|·Σ|w_c| < 2^31 with int16 operands), each output row
 * requantized by sim.c's own Xilinx / DynamicFixed code into the int32 blob and its float32 twin. One or two images
 * (a layer's fixed and local runs) per call, split over the kernel threads by channels.
 */
import { DW_PAR_MIN_MACS, getThreads } from './config';
import type { Conv2dParams } from './types';
import { JOB_SIM_DW, type WasmRuntime } from './wasm-runtime';
import { putRequantWords, type Requant } from './sim-twin-threads';

interface SimDwExports {
  simd_ws_words(p: number): number;
  simd_part(P: number, m: number, c0: number, c1: number, ws: number): number;
}

export type SimDepthwiseMode = 'auto' | 'off';
let mode: SimDepthwiseMode = process.env.CHAIQ_SIM_DW === '0' ? 'off' : 'auto';
/**
 * 'auto' (default; CHAIQ_SIM_DW=0 makes it 'off'): depthwise convs of the resident chain on the integer kernel;
 * 'off': on the float32-twin path and a separate requantization, as before (tests compare). Returns the previous mode.
 */
export function setSimDepthwise(m: SimDepthwiseMode): SimDepthwiseMode {
  const prev = mode;
  mode = m;
  return prev;
}

/** Images the integer depthwise kernel computed, and the calls that took two at once (tests, benches). */
export const simDwStats = { convs: 0, pairs: 0 };

/** Whether conv p is a depthwise conv the kernel takes (and the mode allows it). */
export function simDwShape(p: Conv2dParams): boolean {
  return mode !== 'off' && p.group === p.inC && p.group === p.outC && p.outH > 0 && p.outW > 0 && p.kH >= 1 && p.kW >= 1 &&
    p.strideH >= 1 && p.strideW >= 1 && p.dilH >= 1 && p.dilW >= 1 && p.padH >= 0 && p.padW >= 0;
}

/** Exact int32 sums of int16 operands: max|x|·Σ|w_c| < 2^31. */
export function simDwFits(xAbsMax: number, wAbsMax: number, maxRowAbsSum: number): boolean {
  return xAbsMax <= 32767 && wAbsMax <= 32767 && xAbsMax * maxRowAbsSum < 2 ** 31;
}

/** One image: its input's int32, the output's int32 and float32 twin (byte addresses outside the arena), max |acc|. */
export interface SimDwImage { x: number; q: number; f: number; amax: number }

/** Words of SimDwP (sim-dw.c) */
const P_WORDS = 36;

/**
 * The depthwise conv of 1 or 2 images with weights w (int32 [C][kH][kW]), requantized into [lo, hi]: writes each
 * image's q and f, returns each image's max |y|, or null (nothing done) without room. Resets the arena. The caller
 * has checked simDwShape, simDwFits and the requantization's range.
 */
export function simDwAt(r: WasmRuntime, imgs: SimDwImage[], w: Int32Array, p: Conv2dParams, rq: Requant, lo: number, hi: number): number[] | null {
  const ex = r.ex as unknown as SimDwExports;
  const C = p.outC;
  const wLen = C * p.kH * p.kW;
  const macs = imgs.length * wLen * p.outH * p.outW;
  const t = getThreads();
  const idle = t > 1 && macs >= DW_PAR_MIN_MACS ? (r.ensureWorkers(t - 1), r.readyWorkers(t - 1)) : [];
  const T = idle.length + 1;
  r.reset();
  const pP = r.alloc(P_WORDS);
  r.I32().set([p.inC, p.inH, p.inW, p.outC, p.outH, p.outW, p.kH, p.kW, p.strideH, p.strideW, p.padH, p.padW, p.dilH, p.dilW, p.group, 0], pP >>> 2);
  const wsW = ex.simd_ws_words(pP);
  // params, S and bq (doubles) or biases, weights, the workspaces, the threads' max words, alignment slack
  if (!r.canHold(4 * (P_WORDS + 4 * C + wLen + T * (wsW + 16) + 2 * T + 128) + 4096)) return null;
  const words = putRequantWords(r, rq, C);
  const [pS, pB, pBias] = rq.mode === 'Xilinx' ? [words.pA, words.pB, 0] : [0, 0, words.pA];
  const pW = r.alloc(wLen);
  r.I32().set(w.subarray(0, wLen), pW >>> 2);
  // SimDwP words 16-31 (the second image's words repeat the first's when there is one image)
  const im1 = imgs[1] ?? imgs[0];
  r.I32().set([rq.mode === 'Xilinx' ? 0 : 1, rq.mode === 'Xilinx' ? 0 : rq.shift, lo, hi, pS, pB, pBias, imgs.length,
    imgs[0].x, im1.x, imgs[0].q, im1.q, imgs[0].f, im1.f, pW, 0], (pP >>> 2) + 16);
  r.F64().set([imgs[0].amax, im1.amax], (pP >>> 3) + 16);
  const ws = Array.from({ length: T }, () => r.alloc(wsW));
  // about 4 chunks of channels per thread over the images
  let ch = C;
  if (T > 1) ch = Math.max(1, Math.ceil(C / Math.ceil((4 * T) / imgs.length)));
  const nc = imgs.length * Math.ceil(C / ch);
  if (T === 1) {
    const out = imgs.map((_, m) => ex.simd_part(pP, m, 0, C, ws[0]));
    count(imgs.length);
    return out;
  }
  // each thread: the largest |y| per image of its chunks, two words at maxAddr + 8·k
  const maxAddr = r.alloc(2 * T);
  r.I32().fill(0, maxAddr >>> 2, (maxAddr >>> 2) + 2 * T);
  r.parallel(JOB_SIM_DW, ws.map((wsT, k) => [pP, imgs.length, ch, nc, wsT, maxAddr + 8 * k]), idle);
  const m32 = r.I32();
  const out = imgs.map((_, m) => {
    let mx = 0;
    for (let k = 0; k < T; k++) mx = Math.max(mx, m32[(maxAddr >>> 2) + 2 * k + m]);
    return mx;
  });
  count(imgs.length);
  return out;
}

function count(images: number): void {
  simDwStats.convs += images;
  if (images === 2) simDwStats.pairs++;
}
