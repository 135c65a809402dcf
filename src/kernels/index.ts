/**
 * Fast float kernels for the reference executor: convolution and GEMM in WebAssembly SIMD (packed 4x8
 * micro-kernel, implicit im2col, direct depthwise), spread over both cores with a persistent worker pool.
 * Falls back to plain JS (js.ts) when wasm SIMD / shared memory is unavailable or CHAIQ_NO_WASM=1.
 * Accumulation is float32 in a different order than Caffe's BLAS: results agree to ~1e-6·sqrt(K) relative.
 */
import * as os from 'os';
import { conv2dJs, sgemmJs } from './js';
import { getRuntime, peekRuntime, JOB_CONV, JOB_CONV_IMAGES, JOB_DW, JOB_GEMM, JOB_GEMV_T, JOB_LRN, JOB_PACK, JOB_POOL, WasmRuntime } from './wasm-runtime';

export type { Conv2dParams } from './js';
import type { Conv2dParams } from './js';

/**
 * Per-output-channel work applied to a convolution's final outputs inside the kernel (while they are in cache,
 * on every thread): what the in-place BatchNorm / Scale / ReLU layers after it, and an Eltwise SUM with a
 * residual, would do, with the same arithmetic (BatchNorm y = f32((x - mean[c]) / sd[c]) and Scale
 * y = f32(x·a[c] + b[c]) in double, ReLU y = x > 0 ? x : 0, residual y = f32(y + r)), so results are identical
 * to running those layers. Order: bn, scale, relu, residual, reluAfterResidual.
 */
export interface ConvEpilogue {
  bn?: { mean: Float64Array; sd: Float64Array };
  scale?: { a: Float64Array; b: Float64Array };
  relu?: boolean;
  /** [n, outC, outH, outW], the layout of the output */
  residual?: Float32Array;
  reluAfterResidual?: boolean;
}

let armed: ConvEpilogue | null = null;
let armedTaken = false;

/**
 * The next conv2dBatch call applies `ep` to its outputs (the executor's layer fusion: it cannot pass `ep`
 * through the Convolution layer's forward). disarmConvEpilogue() says whether a call took it.
 */
export function armConvEpilogue(ep: ConvEpilogue): void {
  armed = ep;
  armedTaken = false;
}

/** Drop an armed epilogue; true when a conv2dBatch call took (and applied) it since armConvEpilogue. */
export function disarmConvEpilogue(): boolean {
  const t = armedTaken;
  armed = null;
  armedTaken = false;
  return t;
}

function epFlags(ep: ConvEpilogue): number {
  return (ep.bn ? 1 : 0) | (ep.scale ? 2 : 0) | (ep.relu ? 4 : 0) | (ep.residual ? 8 : 0) | (ep.reluAfterResidual ? 16 : 0);
}

/** The epilogue in plain JS on one image's output y [outC, hw] (res: that image's residual). */
function epilogueJs(ep: ConvEpilogue, y: Float32Array, outC: number, hw: number, res: Float32Array | null): void {
  const fr = Math.fround;
  for (let c = 0; c < outC; c++) {
    const mu = ep.bn ? ep.bn.mean[c] : 0;
    const sd = ep.bn ? ep.bn.sd[c] : 1;
    const a = ep.scale ? ep.scale.a[c] : 1;
    const b = ep.scale ? ep.scale.b[c] : 0;
    for (let i = c * hw; i < (c + 1) * hw; i++) {
      let v = y[i];
      if (ep.bn) v = fr((v - mu) / sd);
      if (ep.scale) v = fr(v * a + b);
      if (ep.relu) v = v > 0 ? v : 0;
      if (res) v = fr(v + res[i]);
      if (ep.reluAfterResidual) v = v > 0 ? v : 0;
      y[i] = v;
    }
  }
}

/** room for one EpiP (kernels.c: flags and five pointers) */
const EPI_BYTES = 64;

/** The epilogue's per-channel parameters in the arena; writeEpi then makes an EpiP of them. */
function stageEpilogue(r: WasmRuntime, ep: ConvEpilogue, outC: number): { flags: number; mean: number; sd: number; a: number; b: number } {
  return {
    flags: epFlags(ep),
    mean: ep.bn ? r.putF64(ep.bn.mean.subarray(0, outC)) : 0,
    sd: ep.bn ? r.putF64(ep.bn.sd.subarray(0, outC)) : 0,
    a: ep.scale ? r.putF64(ep.scale.a.subarray(0, outC)) : 0,
    b: ep.scale ? r.putF64(ep.scale.b.subarray(0, outC)) : 0,
  };
}

function writeEpi(r: WasmRuntime, addr: number, st: ReturnType<typeof stageEpilogue>, res: number): void {
  r.I32().set([st.flags, st.mean, st.sd, st.a, st.b, res], addr >>> 2);
}

let threads = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
let wasmWanted = process.env.CHAIQ_NO_WASM !== '1';
/** Below this many multiply-adds a call stays on one thread (waking a worker costs ~10-50 µs). */
const PAR_MIN_MACS = 1 << 20;
/** the same for depthwise convs (their MACs are ~5x slower than the GEMM's: MobileNet's 14x14 layers gain) */
const DW_PAR_MIN_MACS = 1 << 17;
/** output-pixel chunks per thread (finer chunks measured no better: the wait is the worker's wake-up) */
const DIM0_PER_THREAD = 2;

/** Threads (main + workers) used by the kernels. Default: os.availableParallelism(). */
export function setThreads(n: number): void {
  threads = Math.min(64, Math.max(1, Math.floor(n)));
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

/** Which backend runs, how many threads it may use, and how many jobs went to worker threads so far. */
export function kernelStats(): { backend: 'wasm' | 'js'; threads: number; workerJobs: number } {
  const r = rt();
  return { backend: r ? 'wasm' : 'js', threads, workerJobs: r ? r.workerJobs : 0 };
}

/** Start the worker pool now and wait until it takes jobs (otherwise it warms up during the first calls). Best effort. */
export async function initKernels(): Promise<void> {
  const r = rt();
  if (!r || threads <= 1) return;
  try {
    await r.whenReady(threads - 1);
  } catch {
    // no threads here: the kernels run on the calling thread only
  }
}

/** Terminate the worker threads (they are unref'd, so a process exits without this; jest prefers it). */
export async function shutdownKernels(): Promise<void> {
  const r = peekRuntime();
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

/** Below this many output pixels a single image's conv reads its weights unpacked (each weight is used N times). */
const RAW_A_MAX_N = 256;

function writeParams(r: WasmRuntime, p: Conv2dParams, rawA: boolean): number {
  const a = r.alloc(16);
  const v = [p.inC, p.inH, p.inW, p.outC, p.outH, p.outW, p.kH, p.kW, p.strideH, p.strideW, p.padH, p.padW, p.dilH, p.dilW, p.group, rawA ? 1 : 0];
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

/**
 * Packed (or, for depthwise convs, raw) weights stay in wasm memory across calls, keyed by the weight array
 * object: a net's forward packs each layer's weights once instead of copying and repacking them on every call
 * (ResNet-50: ~94 MB a forward). An entry is used only while the cache generation, the layout and a sample of
 * the values still match, so a weight array refilled in place is repacked (a change confined to values
 * between the sampled positions is not seen: call clearWeightCache() after editing weights in place).
 */
interface WeightEntry {
  gen: number;
  addr: number;
  layout: string;
  sample: Float32Array;
}
const weightCache = new WeakMap<Float32Array, WeightEntry>();
/** Bytes of wasm memory the weight cache may hold (everything is dropped when a new entry would exceed it). */
let weightCacheCap = 1024 << 20;
const SAMPLES = 64;

/**
 * A Float32Array of n floats inside the kernels' wasm memory (kernels then read/write it in place, no copy),
 * or null (no wasm, or that region is full). Stale contents. Freed when garbage-collected. For runNet's buffers.
 */
export function wasmFloat32Array(n: number): Float32Array | null {
  const r = rt();
  return r ? r.zoneView(n) : null;
}

/** Whether `a` lives in the kernels' wasm memory (a wasmFloat32Array or a view of one). */
export function isWasmArray(a: Float32Array): boolean {
  const r = peekRuntime();
  return !!r && r.addrOf(a) >= 0;
}

/** Forget every cached packed weight array (e.g. after changing weights in place). */
export function clearWeightCache(): void {
  const r = peekRuntime();
  if (r) r.flushCache();
}

/** Cap (bytes) on the wasm memory used to keep packed weights between calls; 0 disables the cache. */
export function setWeightCacheBytes(bytes: number): void {
  weightCacheCap = Math.max(0, Math.floor(bytes));
  clearWeightCache();
}

function sampleOf(w: Float32Array, len: number, into?: Float32Array): Float32Array {
  const s = into ?? new Float32Array(SAMPLES + 1);
  const step = len / SAMPLES;
  for (let i = 0; i < SAMPLES; i++) s[i] = w[Math.floor(i * step)];
  s[SAMPLES] = len ? w[len - 1] : 0;
  return s;
}

function sameSample(a: Float32Array, w: Float32Array, len: number): boolean {
  const step = len / SAMPLES;
  for (let i = 0; i < SAMPLES; i++) {
    const v = w[Math.floor(i * step)];
    if (v !== a[i] && !(v !== v && a[i] !== a[i])) return false;
  }
  const v = len ? w[len - 1] : 0;
  return v === a[SAMPLES] || (v !== v && a[SAMPLES] !== a[SAMPLES]);
}

/** The cached copy of w (layout: a key of how it was laid out) or -1; `fill` writes a fresh one at the address given. */
function cachedOperand(r: WasmRuntime, w: Float32Array, len: number, layout: string, floats: number, fill: (addr: number) => void): number {
  const e = weightCache.get(w);
  if (e && e.gen === r.generation && e.layout === layout && sameSample(e.sample, w, len)) return e.addr;
  if (weightCacheCap <= 0) return -1;
  const addr = r.cacheReserve(floats, weightCacheCap);
  if (addr < 0) return -1;
  fill(addr);
  r.reset();
  weightCache.set(w, { gen: r.generation, addr, layout, sample: sampleOf(w, len, e?.sample) });
  return addr;
}

/** Pack MR-row panels of the weights (raw at pw) into pAp, on the idle workers too when there is a lot. */
function packWeights(r: WasmRuntime, pP: number, pw: number, pAp: number, p: Conv2dParams, idle: number[]): void {
  const wLen = p.outC * (p.inC / p.group) * p.kH * p.kW;
  const panels = p.group * Math.ceil(p.outC / p.group / r.MR);
  const T = wLen >= 1 << 16 ? idle.length + 1 : 1;
  const [ch, nc] = chunks(panels, T, 1, 1);
  if (T === 1) r.ex.pack_conv_panels(pP, pw, pAp, 0, panels);
  else r.parallel(JOB_PACK, Array.from({ length: T }, () => [pP, pw, pAp, ch, nc]), idle);
}

/**
 * Weights for conv p in wasm memory, from the cache when possible (call before anything else is allocated in
 * the arena: a miss resets it). Returns the address, or -1 when the cache cannot take them.
 */
function cachedWeights(r: WasmRuntime, w: Float32Array, p: Conv2dParams, idle: number[]): number {
  const wLen = p.outC * (p.inC / p.group) * p.kH * p.kW;
  if (isDepthwise(p)) {
    return cachedOperand(r, w, wLen, 'raw', wLen, (addr) => r.F32().set(w.subarray(0, wLen), addr >>> 2));
  }
  const mg = p.outC / p.group;
  const kg = (p.inC / p.group) * p.kH * p.kW;
  const floats = p.group * Math.ceil(mg / r.MR) * r.MR * kg;
  return cachedOperand(r, w, wLen, `conv:${p.group}:${mg}:${kg}:${r.MR}`, floats, (addr) => {
    r.reset();
    const pP = writeParams(r, p, false);
    const pw = r.put(w.subarray(0, wLen));
    packWeights(r, pP, pw, addr, p, idle);
  });
}

/** Weights in wasm memory, packed for the GEMM (or raw for depthwise), in the arena; returns the address. */
function putWeights(r: WasmRuntime, pP: number, w: Float32Array, p: Conv2dParams, idle: number[], rawA: boolean): number {
  const wLen = p.outC * (p.inC / p.group) * p.kH * p.kW;
  const pw = r.put(w.subarray(0, wLen));
  if (isDepthwise(p) || rawA) return pw;
  const mg = p.outC / p.group;
  const kg = (p.inC / p.group) * p.kH * p.kW;
  const panels = p.group * Math.ceil(mg / r.MR);
  const pAp = r.alloc(panels * r.MR * kg);
  packWeights(r, pP, pw, pAp, p, idle);
  return pAp;
}

function wsFloats(r: WasmRuntime, pP: number, p: Conv2dParams): number {
  return isDepthwise(p) ? r.ex.dw_ws_floats(pP) : r.ex.gemm_ws_floats();
}

/** [chunk, nChunks] cutting n into ~4 chunks per thread, chunk a multiple of align and >= minChunk. */
function chunks(n: number, t: number, align: number, minChunk: number): [number, number] {
  if (t <= 1) return [n, 1];
  const ch = Math.max(minChunk, Math.ceil(n / (4 * t) / align) * align);
  return [ch, Math.ceil(n / ch)];
}

/** How to cut an M x N GEMM output over t threads: [dim (0: columns, 1: rows), chunk, nChunks]. */
function gemmChunks(M: number, N: number, t: number, r: WasmRuntime): [number, number, number] {
  if (t > 1 && N >= 64 * t) {
    const ch = Math.max(4 * r.NR, Math.ceil(N / (DIM0_PER_THREAD * t) / r.NR) * r.NR);
    return [0, ch, Math.ceil(N / ch)];
  }
  // row chunks each pack all of B: two per thread (balance if a thread is descheduled, little repacking)
  if (t > 1 && M >= 4 * r.MR * t) {
    const ch = Math.ceil(M / (2 * t) / r.MR) * r.MR;
    return [1, ch, Math.ceil(M / ch)];
  }
  return [0, N, 1];
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
  conv2dOne(x, w, bias, p, out, null, null);
}

/** conv2d (checked) plus an epilogue (res: this image's residual). */
function conv2dOne(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array,
  ep: ConvEpilogue | null, res: Float32Array | null): void {
  const r = rt();
  const outSize = p.outC * p.outH * p.outW;
  const js = (): void => {
    conv2dJs(x, w, bias, p, out);
    if (ep) epilogueJs(ep, out, p.outC, p.outH * p.outW, res);
  };
  if (!r || !fits(r, convBytes(p, 1) + (res ? 4 * outSize : 0))) {
    js();
    return;
  }
  const N = p.outH * p.outW;
  const mg = p.outC / p.group;
  const macs = p.outC * (p.inC / p.group) * p.kH * p.kW * N;
  const idle = workersFor(r, isDepthwise(p) ? macs * (PAR_MIN_MACS / DW_PAR_MIN_MACS) : macs);
  let pw = cachedWeights(r, w, p, idle);
  if (pw >= 0 && !fits(r, convBytes(p, 1) + (res ? 4 * outSize : 0))) {
    // the cache left too little room for this call's operands
    r.flushCache();
    pw = -1;
    if (!fits(r, convBytes(p, 1) + (res ? 4 * outSize : 0))) {
      js();
      return;
    }
  }
  r.reset();
  const rawA = pw < 0 && N <= RAW_A_MAX_N;
  const pP = writeParams(r, p, rawA);
  const inSize = p.inC * p.inH * p.inW;
  // operands already in wasm memory (zone views: runNet's activations) are used in place
  const oa0 = r.addrOf(out);
  const xa0 = r.addrOf(x);
  const overlaps = (a: number, na: number, b: number, nb: number): boolean => a >= 0 && b >= 0 && a < b + 4 * nb && b < a + 4 * na;
  const xa = overlaps(xa0, inSize, oa0, outSize) ? -1 : xa0;
  const px = xa >= 0 ? xa : r.put(x.subarray(0, inSize));
  const pb = bias ? r.put(bias.subarray(0, p.outC)) : 0;
  if (pw < 0) pw = putWeights(r, pP, w, p, idle, rawA);
  const oa = oa0;
  const pout = oa >= 0 ? oa : r.alloc(outSize);
  let pep = 0;
  if (ep) {
    const st = stageEpilogue(r, ep, p.outC);
    pep = r.alloc(EPI_BYTES / 4);
    const ra = res && !overlaps(r.addrOf(res), outSize, oa, outSize) ? r.addrOf(res) : -1;
    writeEpi(r, pep, st, res ? (ra >= 0 ? ra : r.put(res.subarray(0, outSize))) : 0);
  }
  const T = idle.length + 1;
  const wsF = wsFloats(r, pP, p);
  const ws = Array.from({ length: T }, () => r.alloc(wsF));
  if (isDepthwise(p)) {
    const [ch, nc] = chunks(p.outC, T, 1, 1);
    r.parallel(JOB_DW, ws.map((wsT) => [pP, px, pw, pb, pout, p.outC, ch, nc, wsT, pep]), idle);
  } else {
    const [dim, ch, nc] = gemmChunks(mg, N, T, r);
    r.parallel(JOB_CONV, ws.map((wsT) => [pP, px, pw, pb, pout, mg, N, dim, ch, nc, wsT, pep]), idle);
  }
  if (oa < 0) r.get(pout, out.subarray(0, outSize));
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
  const gemv = transB && M < 2 * r.MR;
  // few rows (InnerProduct at small batch): B (the weights) is read in place, kept in wasm memory across calls
  let pB = gemv ? cachedOperand(r, B, K * N, `gemvB:${K}`, K * N, (addr) => r.F32().set(B.subarray(0, K * N), addr >>> 2)) : -1;
  if (pB >= 0 && !fits(r, 4 * (2 * M * K + M * N + 2 * (threads + 1) * 140000) + (8 << 20))) {
    r.flushCache();
    pB = -1;
    if (!fits(r, 4 * (2 * M * K + K * N + M * N + 2 * (threads + 1) * 140000) + (8 << 20))) {
      sgemmJs(M, N, K, A, 0, B, 0, C, 0, transB, accumulate);
      return;
    }
  }
  r.reset();
  const aa = r.addrOf(A);
  const pA = aa >= 0 ? aa : r.put(A.subarray(0, M * K));
  // C in place when it is in wasm memory and does not overlap A
  let ca = r.addrOf(C);
  if (ca >= 0 && aa >= 0 && ca < aa + 4 * M * K && aa < ca + 4 * M * N) ca = -1;
  const pCof = (): number => (ca >= 0 ? ca : accumulate ? r.put(C.subarray(0, M * N)) : r.alloc(M * N));
  if (gemv) {
    if (pB < 0) pB = r.put(B.subarray(0, K * N));
    const pC = pCof();
    const idle = workersFor(r, M * N * K);
    const [ch, nc] = chunks(N, idle.length + 1, 4, 16);
    r.parallel(JOB_GEMV_T, Array.from({ length: idle.length + 1 }, () => [M, N, K, pA, pB, pC, accumulate ? 1 : 0, ch, nc]), idle);
    if (ca < 0) r.get(pC, C.subarray(0, M * N));
    return;
  }
  const pAp = r.alloc(Math.ceil(M / r.MR) * r.MR * K);
  r.ex.pack_a(pA, K, M, K, pAp);
  pB = r.put(B.subarray(0, K * N));
  const pC = pCof();
  const idle = workersFor(r, M * N * K);
  const T = idle.length + 1;
  const wsF = r.ex.gemm_ws_floats();
  const [dim, ch, nc] = gemmChunks(M, N, T, r);
  const jobs = Array.from({ length: T }, () => [M, N, K, pAp, pB, transB ? 1 : 0, pC, accumulate ? 1 : 0, dim, ch, nc, r.alloc(wsF)]);
  r.parallel(JOB_GEMM, jobs, idle);
  if (ca < 0) r.get(pC, C.subarray(0, M * N));
}

/** Bytes of images staged in wasm memory per round of conv2dBatch. */
const BATCH_ROUND_BYTES = 256 << 20;

/**
 * A batch of n images (x [n,inC,inH,inW] → out [n,outC,outH,outW]): whole images go to different cores.
 */
export async function conv2dBatch(x: Float32Array, n: number, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array): Promise<void> {
  // an armed epilogue belongs to this call (taken before anything can throw or await)
  const ep = armed;
  armed = null;
  checkConv(x, w, bias, p, out, n);
  if (ep) {
    if (ep.residual && ep.residual.length < n * p.outC * p.outH * p.outW) throw new Error('conv2d: residual too small');
    armedTaken = true;
  }
  const inSize = p.inC * p.inH * p.inW;
  const outSize = p.outC * p.outH * p.outW;
  const resOf = (i: number): Float32Array | null => (ep?.residual ? ep.residual.subarray(i * outSize, (i + 1) * outSize) : null);
  const one = (i: number): void =>
    conv2dOne(x.subarray(i * inSize, (i + 1) * inSize), w, bias, p, out.subarray(i * outSize, (i + 1) * outSize), ep, resOf(i));
  const r = rt();
  if (!r) {
    for (let i = 0; i < n; i++) one(i);
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
    for (let i = 0; i < n; i++) one(i);
    return;
  }
  const T = threads;
  const idle = r.readyWorkers(T - 1);
  const need = convBytes(p, threads) + (ep?.residual ? 4 * threads * outSize : 0);
  let pw = cachedWeights(r, w, p, idle);
  if (pw >= 0 && !fits(r, need)) {
    r.flushCache();
    pw = -1;
    if (!fits(r, need)) {
      for (let i = 0; i < n; i++) one(i);
      return;
    }
  }
  r.reset();
  const pP = writeParams(r, p, false);
  const pb = bias ? r.put(bias.subarray(0, p.outC)) : 0;
  if (pw < 0) pw = putWeights(r, pP, w, p, idle, false);
  const wsF = wsFloats(r, pP, p);
  const ws = Array.from({ length: T }, () => r.alloc(wsF));
  // whole rounds of T images per core; the last n % T images are split across the cores by conv2d
  const nWhole = n - (n % T);
  const resF = ep?.residual ? outSize : 0;
  let round = Math.max(T, Math.min(nWhole, Math.floor(BATCH_ROUND_BYTES / ((inSize + outSize + resF) * 4 * T)) * T));
  if (!fits(r, convBytes(p, round) + 4 * round * resF)) round = T;
  // in place only when nothing overlaps the output
  const oa = r.addrOf(out);
  const apart = (a: Float32Array): boolean => oa < 0 || r.addrOf(a) < 0 || r.addrOf(a) >= oa + out.byteLength || r.addrOf(a) + a.byteLength <= oa;
  const xa = apart(x) ? r.addrOf(x) : -1;
  const rsa = ep?.residual && apart(ep.residual) ? r.addrOf(ep.residual) : -1;
  const px = xa >= 0 ? 0 : r.alloc(round * inSize);
  const pout = oa >= 0 ? 0 : r.alloc(round * outSize);
  const pres = resF && rsa < 0 ? r.alloc(round * resF) : 0;
  const st = ep ? stageEpilogue(r, ep, p.outC) : null;
  const pep = st ? r.alloc((round * EPI_BYTES) / 4) : 0;
  const isDw = isDepthwise(p) ? 1 : 0;
  for (let i0 = 0; i0 < nWhole; i0 += round) {
    const cnt = Math.min(round, nWhole - i0);
    const pxr = xa >= 0 ? xa + 4 * i0 * inSize : px;
    const poutr = oa >= 0 ? oa + 4 * i0 * outSize : pout;
    const presr = rsa >= 0 ? rsa + 4 * i0 * outSize : pres;
    if (xa < 0) r.F32().set(x.subarray(i0 * inSize, (i0 + cnt) * inSize), px >>> 2);
    if (pres) r.F32().set(ep!.residual!.subarray(i0 * outSize, (i0 + cnt) * outSize), pres >>> 2);
    if (st) for (let i = 0; i < cnt; i++) writeEpi(r, pep + i * EPI_BYTES, st, presr ? presr + i * outSize * 4 : 0);
    r.parallel(JOB_CONV_IMAGES, ws.map((wsT) => [isDw, pP, pxr, pw, pb, poutr, inSize * 4, outSize * 4, cnt, wsT, pep, EPI_BYTES]), idle);
    if (oa < 0) r.get(pout, out.subarray(i0 * outSize, (i0 + cnt) * outSize));
  }
  for (let i = nWhole; i < n; i++) one(i);
}

/**
 * MAX/AVE pooling of `planes` planes h×w → oh×ow (Caffe geometry given), planes split across the threads;
 * in place when X and Y are in the kernels' wasm memory (runNet's activations), else staged. Same values as
 * the JS forward. False (nothing done) without wasm or when X and Y overlap.
 */
export function poolInWasm(isMax: boolean, X: Float32Array, Y: Float32Array, planes: number, h: number, w: number,
  g: { kh: number; kw: number; ph: number; pw: number; sh: number; sw: number; oh: number; ow: number }): boolean {
  const r = rt();
  const nx = planes * h * w;
  const ny = planes * g.oh * g.ow;
  if (!r || X.length < nx || Y.length < ny) return false;
  // + slack when staged: the stride-2 path reads one value past a row's last window
  const io = stageIO(r, X, nx + 16, Y, ny);
  if (!io) return false;
  const idle = workersFor(r, ny * g.kh * g.kw);
  const T = idle.length + 1;
  const [ch, nc] = chunks(planes, T, 1, 1);
  const args = [isMax ? 1 : 0, io.xa, io.ya, planes, h, w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, ch, nc];
  r.parallel(JOB_POOL, Array.from({ length: T }, () => args), idle);
  io.done();
  return true;
}

/**
 * Addresses of X (read) and Y (written) for a kernel: in place when they live in the kernels' memory,
 * else staged in scratch (X copied in with room for `xFloats`, Y copied out by `done`). undefined when
 * both are resident and overlap.
 */
function stageIO(r: NonNullable<ReturnType<typeof rt>>, X: Float32Array, xFloats: number, Y: Float32Array, yFloats: number) {
  let xa = r.addrOf(X);
  let ya = r.addrOf(Y);
  if (xa >= 0 && ya >= 0 && xa < ya + Y.byteLength && ya < xa + X.byteLength) return undefined;
  r.reset();
  const stageY = ya < 0;
  if (xa < 0) {
    xa = r.alloc(xFloats);
    r.F32().set(X.subarray(0, Math.min(X.length, xFloats)), xa >>> 2);
  }
  if (stageY) ya = r.alloc(yFloats);
  return {
    xa,
    ya,
    done: () => {
      if (stageY) Y.set(r.F32().subarray(ya >>> 2, (ya >>> 2) + yFloats));
    },
  };
}

/**
 * LRN across channels with beta 0.75 (y = x / (r·√r), r = √(k + a·Σ window x²)) over n images [c, hw], pixels
 * split across the threads; in place when X and Y are in the kernels' wasm memory, else staged. Same values
 * as the JS forward. False (nothing done) without wasm or when X and Y overlap.
 */
export function lrn075InWasm(X: Float32Array, Y: Float32Array, n: number, c: number, hw: number, size: number, k: number, a: number): boolean {
  const r = rt();
  if (!r || X.length < n * c * hw || Y.length < n * c * hw) return false;
  const io = stageIO(r, X, n * c * hw, Y, n * c * hw);
  if (!io) return false;
  const { xa, ya } = io;
  const ka = r.alloc(4);
  r.F64().set([k, a], ka >>> 3);
  const idle = workersFor(r, c * hw * size);
  const T = idle.length + 1;
  const [ch, nc] = chunks(hw, T, 2, 64);
  const accs = Array.from({ length: T }, () => r.alloc(2 * ch));
  for (let b = 0; b < n; b++) {
    const off = 4 * b * c * hw;
    r.parallel(JOB_LRN, accs.map((acc) => [xa + off, ya + off, c, hw, size, ka, acc, ch, nc]), idle);
  }
  io.done();
  return true;
}
