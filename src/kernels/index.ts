/**
 * Fast float kernels for the reference executor: convolution and GEMM in WebAssembly SIMD (packed 4x8
 * micro-kernel, implicit im2col, direct depthwise), spread over both cores with a persistent worker pool.
 * Falls back to plain JS (js.ts) when wasm SIMD / shared memory is unavailable or CHAIQ_NO_WASM=1.
 * Accumulation is float32 in a different order than Caffe's BLAS: results agree to ~1e-6·sqrt(K) relative.
 */
import * as os from 'os';
import { conv2dJs, sgemmJs } from './js';
import { getRuntime, JOB_CONV, JOB_CONV_IMAGES, JOB_DW, JOB_GEMM, WasmRuntime } from './wasm-runtime';

export interface Conv2dParams {
  inC: number; inH: number; inW: number; outC: number; outH: number; outW: number;
  kH: number; kW: number; strideH: number; strideW: number; padH: number; padW: number;
  dilH: number; dilW: number; group: number;
}

let threads = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
let wasmWanted = process.env.CHAIQ_NO_WASM !== '1';
/** Below this many multiply-adds a call stays on one thread (waking a worker costs ~10-50 µs). */
const PAR_MIN_MACS = 1 << 20;

/** Threads (main + workers) used by the kernels. Default: os.availableParallelism(). */
export function setThreads(n: number): void {
  threads = Math.max(1, Math.floor(n));
}

export function getThreads(): number {
  return threads;
}

/** Force the plain-JS path (false) or allow wasm (true). Initial value: CHAIQ_NO_WASM !== '1'. */
export function setUseWasm(on: boolean): void {
  wasmWanted = on;
}

/** 'wasm' when the SIMD path is active, else 'js'. */
export function kernelBackend(): 'wasm' | 'js' {
  return rt() ? 'wasm' : 'js';
}

/** Start the worker pool now and wait until it takes jobs (otherwise it warms up during the first calls). */
export async function initKernels(): Promise<void> {
  const r = rt();
  if (r && threads > 1) await r.whenReady(threads - 1);
}

export async function shutdownKernels(): Promise<void> {
  const r = wasmWanted ? getRuntime() : null;
  if (r) await r.shutdown();
}

function rt(): WasmRuntime | null {
  return wasmWanted ? getRuntime() : null;
}

function checkConv(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array, n: number): void {
  const G = p.group;
  if (!(G >= 1) || p.inC % G !== 0 || p.outC % G !== 0) throw new Error(`conv2d: group ${G} does not divide ${p.inC}/${p.outC}`);
  const need = (what: string, have: number, want: number): void => {
    if (have < want) throw new Error(`conv2d: ${what} has ${have} values, needs ${want}`);
  };
  need('input', x.length, n * p.inC * p.inH * p.inW);
  need('weights', w.length, p.outC * (p.inC / G) * p.kH * p.kW);
  need('output', out.length, n * p.outC * p.outH * p.outW);
  if (bias) need('bias', bias.length, p.outC);
}

function writeParams(r: WasmRuntime, p: Conv2dParams): number {
  const a = r.alloc(16);
  const v = [p.inC, p.inH, p.inW, p.outC, p.outH, p.outW, p.kH, p.kW, p.strideH, p.strideW, p.padH, p.padW, p.dilH, p.dilW, p.group];
  r.I32().set(v, a >>> 2);
  return a;
}

/** Upper bound of the wasm bytes one conv2d call (with `images` images staged) needs. */
function convBytes(p: Conv2dParams, images: number): number {
  const kg = (p.inC / p.group) * p.kH * p.kW;
  const mg = p.outC / p.group;
  const w = p.outC * kg + p.group * (mg + 8) * kg;
  const ws = (threads + 1) * Math.max(140000, 3 * (p.inH + 2 * p.padH + 1) * (p.inW + 2 * p.padW + 10) + 64);
  return 4 * (images * (p.inC * p.inH * p.inW + p.outC * p.outH * p.outW) + w + p.outC + ws) + (8 << 20);
}

/** Can the shared memory hold `bytes` of operands (growing it if needed)? Else callers use the JS path. */
function fits(r: WasmRuntime, bytes: number): boolean {
  return r.canHold(bytes);
}

function isDepthwise(p: Conv2dParams): boolean {
  return p.group === p.inC && p.group === p.outC;
}

/** Weights in wasm memory, packed for the GEMM (or raw for depthwise); returns the address. */
function putWeights(r: WasmRuntime, pP: number, w: Float32Array, p: Conv2dParams): number {
  const wLen = p.outC * (p.inC / p.group) * p.kH * p.kW;
  const pw = r.put(w.subarray(0, wLen));
  if (isDepthwise(p)) return pw;
  const mg = p.outC / p.group;
  const kg = (p.inC / p.group) * p.kH * p.kW;
  const pAp = r.alloc(p.group * Math.ceil(mg / r.MR) * r.MR * kg);
  r.ex.pack_conv_weights(pP, pw, pAp);
  return pAp;
}

function wsFloats(r: WasmRuntime, pP: number, p: Conv2dParams): number {
  return isDepthwise(p) ? r.ex.dw_ws_floats(pP) : r.ex.gemm_ws_floats();
}

/** Split [0,n) into at most t ranges whose bounds are multiples of `align` (the last one ends at n). */
function split(n: number, t: number, align: number): Array<[number, number]> {
  const chunk = Math.ceil(n / t / align) * align;
  const r: Array<[number, number]> = [];
  for (let a = 0; a < n; a += chunk) r.push([a, Math.min(n, a + chunk)]);
  return r;
}

function workersFor(r: WasmRuntime, macs: number): number[] {
  if (threads <= 1 || macs < PAR_MIN_MACS) return [];
  r.ensureWorkers(threads - 1);
  return r.readyWorkers(threads - 1);
}

/**
 * One image: out[outC,outH,outW] = conv(x[inC,inH,inW], w[outC,inC/group,kH,kW]) + bias, Caffe semantics
 * (zero padding, dilation, groups; outH/outW given by the caller).
 */
export function conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array): void {
  checkConv(x, w, bias, p, out, 1);
  const r = rt();
  if (!r || !fits(r, convBytes(p, 1))) {
    conv2dJs(x, w, bias, p, out);
    return;
  }
  r.reset();
  const pP = writeParams(r, p);
  const inSize = p.inC * p.inH * p.inW;
  const outSize = p.outC * p.outH * p.outW;
  const px = r.put(x.subarray(0, inSize));
  const pb = bias ? r.put(bias.subarray(0, p.outC)) : 0;
  const pw = putWeights(r, pP, w, p);
  const pout = r.alloc(outSize);
  const N = p.outH * p.outW;
  const mg = p.outC / p.group;
  const macs = p.outC * (p.inC / p.group) * p.kH * p.kW * N;
  const idle = workersFor(r, macs);
  const T = idle.length + 1;
  const wsF = wsFloats(r, pP, p);
  let jobs: number[][];
  let cmd: number;
  if (isDepthwise(p)) {
    cmd = JOB_DW;
    jobs = split(p.outC, T, 1).map(([c0, c1]) => [pP, px, pw, pb, pout, c0, c1, r.alloc(wsF)]);
  } else {
    cmd = JOB_CONV;
    if (T > 1 && N >= 64 * T) jobs = split(N, T, r.NR).map(([n0, n1]) => [pP, px, pw, pb, pout, 0, mg, n0, n1, r.alloc(wsF)]);
    else if (T > 1 && mg >= 4 * r.MR * T) jobs = split(mg, T, r.MR).map(([m0, m1]) => [pP, px, pw, pb, pout, m0, m1, 0, N, r.alloc(wsF)]);
    else jobs = [[pP, px, pw, pb, pout, 0, mg, 0, N, r.alloc(wsF)]];
  }
  r.parallel(cmd, jobs, idle);
  r.get(pout, out.subarray(0, outSize));
}

/** C[M,N] = A[M,K]·B[K,N] (+ C if accumulate), row-major; transB: B is stored [N,K]. */
export function sgemm(M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array,
  opts: { transB?: boolean; accumulate?: boolean } = {}): void {
  const transB = !!opts.transB;
  const accumulate = !!opts.accumulate;
  if (A.length < M * K || B.length < K * N || C.length < M * N) throw new Error(`sgemm: operand too small for ${M}x${N}x${K}`);
  const r = rt();
  if (!r || M === 0 || N === 0 || !fits(r, 4 * (2 * M * K + K * N + M * N + 2 * (threads + 1) * 140000) + (8 << 20))) {
    sgemmJs(M, N, K, A, 0, B, 0, C, 0, transB, accumulate);
    return;
  }
  if (K === 0) {
    if (!accumulate) C.fill(0, 0, M * N);
    return;
  }
  r.reset();
  const pA = r.put(A.subarray(0, M * K));
  const pAp = r.alloc(Math.ceil(M / r.MR) * r.MR * K);
  r.ex.pack_a(pA, K, M, K, pAp);
  const pB = r.put(B.subarray(0, K * N));
  const pC = accumulate ? r.put(C.subarray(0, M * N)) : r.alloc(M * N);
  const idle = workersFor(r, M * N * K);
  const T = idle.length + 1;
  const wsF = r.ex.gemm_ws_floats();
  const job = (m0: number, m1: number, n0: number, n1: number): number[] =>
    [M, N, K, pAp, pB, transB ? 1 : 0, pC, m0, m1, n0, n1, accumulate ? 1 : 0, r.alloc(wsF)];
  let jobs: number[][];
  if (T > 1 && N >= 64 * T) jobs = split(N, T, r.NR).map(([n0, n1]) => job(0, M, n0, n1));
  else if (T > 1 && M >= 4 * r.MR * T) jobs = split(M, T, r.MR).map(([m0, m1]) => job(m0, m1, 0, N));
  else jobs = [job(0, M, 0, N)];
  r.parallel(JOB_GEMM, jobs, idle);
  r.get(pC, C.subarray(0, M * N));
}

/** Bytes of images staged in wasm memory per round of conv2dBatch. */
const BATCH_ROUND_BYTES = 256 << 20;

/**
 * A batch of n images (x [n,inC,inH,inW] → out [n,outC,outH,outW]): whole images go to different cores.
 */
export async function conv2dBatch(x: Float32Array, n: number, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array): Promise<void> {
  checkConv(x, w, bias, p, out, n);
  const inSize = p.inC * p.inH * p.inW;
  const outSize = p.outC * p.outH * p.outW;
  const r = rt();
  if (!r) {
    for (let i = 0; i < n; i++) conv2dJs(x.subarray(i * inSize, (i + 1) * inSize), w, bias, p, out.subarray(i * outSize, (i + 1) * outSize));
    return;
  }
  let pooled = n > 1 && threads > 1 && fits(r, convBytes(p, threads));
  if (pooled) {
    try {
      await r.whenReady(threads - 1);
    } catch {
      pooled = false; // no workers: conv2d below runs on the main thread
    }
  }
  if (!pooled) {
    for (let i = 0; i < n; i++) conv2d(x.subarray(i * inSize, (i + 1) * inSize), w, bias, p, out.subarray(i * outSize, (i + 1) * outSize));
    return;
  }
  r.reset();
  const pP = writeParams(r, p);
  const pb = bias ? r.put(bias.subarray(0, p.outC)) : 0;
  const pw = putWeights(r, pP, w, p);
  const T = threads;
  const idle = r.readyWorkers(T - 1);
  const wsF = wsFloats(r, pP, p);
  const ws = Array.from({ length: T }, () => r.alloc(wsF));
  // whole rounds of T images per core; the last n % T images are split across the cores by conv2d
  const nWhole = n - (n % T);
  let round = Math.max(T, Math.min(nWhole, Math.floor(BATCH_ROUND_BYTES / ((inSize + outSize) * 4 * T)) * T));
  if (!fits(r, convBytes(p, round))) round = T;
  const px = r.alloc(round * inSize);
  const pout = r.alloc(round * outSize);
  const isDw = isDepthwise(p) ? 1 : 0;
  for (let i0 = 0; i0 < nWhole; i0 += round) {
    const cnt = Math.min(round, nWhole - i0);
    r.F32().set(x.subarray(i0 * inSize, (i0 + cnt) * inSize), px >>> 2);
    const tt = Math.min(T, cnt);
    const jobs = Array.from({ length: tt }, (_, t) => [isDw, pP, px, pw, pb, pout, inSize * 4, outSize * 4, t, cnt, tt, ws[t]]);
    r.parallel(JOB_CONV_IMAGES, jobs, idle);
    r.get(pout, out.subarray(i0 * outSize, (i0 + cnt) * outSize));
  }
  for (let i = nWhole; i < n; i++) conv2d(x.subarray(i * inSize, (i + 1) * inSize), w, bias, p, out.subarray(i * outSize, (i + 1) * outSize));
}
