/**
 * Float convolution in the wasm kernels (packed MR x NR micro-kernel over an implicit im2col, direct depthwise),
 * spread over the worker pool, with an optional fused epilogue; plain JS (js.ts) when wasm is off or the
 * operands do not fit.
 */
import { conv2dJs } from './js';
import { chunks, DW_PAR_MIN_MACS, getThreads, PAR_MIN_MACS, rt, workersFor } from './config';
import { EPI_BYTES, epilogueJs, stageEpilogue, writeEpi } from './epilogue';
import type { Conv2dParams, ConvEpilogue } from './types';
import { cachedOperand } from './weight-cache';
import { JOB_CONV, JOB_CONV_IMAGES, JOB_DW, JOB_PACK, JOB_WINO, JOB_WINO_PHASE, type WasmRuntime } from './wasm-runtime';
import { cachedWinoWeights, countWinograd, putWinoWeights, winoBlocks, winoExtraBytes, winogradApplies, winoRows, winoShared, winoTile } from './winograd';

/** output-pixel chunks per thread (finer chunks measured no better: the wait is the worker's wake-up) */
const DIM0_PER_THREAD = 2;

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
  const ws = (getThreads() + 1) * Math.max(140000, 3 * (p.inH + 2 * p.padH + 1) * (p.inW + 2 * p.padW + 10) + 64);
  return 4 * (images * (p.inC * p.inH * p.inW + p.outC * p.outH * p.outW) + w + p.outC + ws) + (8 << 20);
}

/** Can the shared memory hold `bytes` of operands (growing it if needed)? Else callers use the JS path. */
export function fits(r: WasmRuntime, bytes: number): boolean {
  return r.canHold(bytes);
}

function isDepthwise(p: Conv2dParams): boolean {
  return p.group === p.inC && p.group === p.outC;
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

/** How to cut an M x N GEMM output over t threads: [dim (0: columns, 1: rows), chunk, nChunks]. */
export function gemmChunks(M: number, N: number, t: number, r: WasmRuntime): [number, number, number] {
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

/**
 * One image: out[outC,outH,outW] = conv(x[inC,inH,inW], w[outC,inC/group,kH,kW]) + bias, Caffe semantics
 * (zero padding, dilation, groups; outH/outW given by the caller).
 */
export function conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array): void {
  checkConv(x, w, bias, p, out, 1);
  conv2dOne(x, w, bias, p, out, null, null, false);
}

/** conv2d (checked) plus an epilogue (res: this image's residual); wino: on the Winograd path (winograd.ts). */
function conv2dOne(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array,
  ep: ConvEpilogue | null, res: Float32Array | null, wino: boolean): void {
  const r = rt();
  const outSize = p.outC * p.outH * p.outW;
  const need = convBytes(p, 1) + (res ? 4 * outSize : 0) + (wino ? winoExtraBytes(p) : 0);
  const js = (): void => {
    conv2dJs(x, w, bias, p, out);
    if (ep) epilogueJs(ep, out, p.outC, p.outH * p.outW, res);
  };
  if (!r || !fits(r, need)) {
    js();
    return;
  }
  const N = p.outH * p.outW;
  const mg = p.outC / p.group;
  const macs = p.outC * (p.inC / p.group) * p.kH * p.kW * N;
  const idle = workersFor(r, isDepthwise(p) ? macs * (PAR_MIN_MACS / DW_PAR_MIN_MACS) : macs);
  const m = wino ? winoTile(p) : 0;
  let pw = wino ? cachedWinoWeights(r, w, p, m, (rr) => writeParams(rr, p, false), idle) : cachedWeights(r, w, p, idle);
  if (pw >= 0 && !fits(r, need)) {
    // the cache left too little room for this call's operands
    r.flushCache();
    pw = -1;
    if (!fits(r, need)) {
      js();
      return;
    }
  }
  r.reset();
  const rawA = !wino && pw < 0 && N <= RAW_A_MAX_N;
  const pP = writeParams(r, p, rawA);
  const inSize = p.inC * p.inH * p.inW;
  // operands already in wasm memory (zone views: runNet's activations) are used in place
  const oa0 = r.addrOf(out);
  const xa0 = r.addrOf(x);
  const overlaps = (a: number, na: number, b: number, nb: number): boolean => a >= 0 && b >= 0 && a < b + 4 * nb && b < a + 4 * na;
  const xa = overlaps(xa0, inSize, oa0, outSize) ? -1 : xa0;
  const px = xa >= 0 ? xa : r.put(x.subarray(0, inSize));
  const pb = bias ? r.put(bias.subarray(0, p.outC)) : 0;
  if (pw < 0) pw = wino ? putWinoWeights(r, pP, w, p, m, idle) : putWeights(r, pP, w, p, idle, rawA);
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
  const shared = wino && winoShared(p, m, T);
  const R = !wino ? 0 : shared ? Math.ceil(p.outH / m) : winoRows(p, m);
  const wsF = wino ? r.ex.wino_ws_floats(pP, m, R) : wsFloats(r, pP, p);
  const ws = Array.from({ length: T }, () => r.alloc(wsF));
  if (shared) {
    const pV = r.alloc(r.ex.wino_shared_floats(pP, m));
    const step = (phase: number, n: number): void => {
      const [ch, nc] = chunks(n, T, 1, 1);
      r.parallel(JOB_WINO_PHASE, ws.map((wsT) => [pP, m, phase, px, pw, pb, pout, pV, n, ch, nc, wsT, pep]), idle);
    };
    step(1, p.inC);
    step(2, (m + 2) * (m + 2));
    step(4, p.outC);
    countWinograd(1);
  } else if (wino) {
    const nb = winoBlocks(p, m, R);
    r.parallel(JOB_WINO, ws.map((wsT) => [pP, m, px, pw, pb, pout, R, p.outC, p.outC, 1, nb, wsT, pep]), idle);
    countWinograd(1);
  } else if (isDepthwise(p)) {
    const [ch, nc] = chunks(p.outC, T, 1, 1);
    r.parallel(JOB_DW, ws.map((wsT) => [pP, px, pw, pb, pout, p.outC, ch, nc, wsT, pep]), idle);
  } else {
    const [dim, ch, nc] = gemmChunks(mg, N, T, r);
    r.parallel(JOB_CONV, ws.map((wsT) => [pP, px, pw, pb, pout, mg, N, dim, ch, nc, wsT, pep]), idle);
  }
  if (oa < 0) r.get(pout, out.subarray(0, outSize));
}

/** Bytes of images staged in wasm memory per round of conv2dBatch. */
const BATCH_ROUND_BYTES = 256 << 20;

/**
 * A batch of n images (x [n,inC,inH,inW] → out [n,outC,outH,outW]): whole images go to different cores.
 * epilogue (optional): applied to the outputs inside the kernel (the executor's layer fusion, src/exec/fuse.ts).
 */
export async function conv2dBatch(x: Float32Array, n: number, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array,
  epilogue?: ConvEpilogue | null): Promise<void> {
  const ep = epilogue ?? null;
  checkConv(x, w, bias, p, out, n);
  if (ep?.residual && ep.residual.length < n * p.outC * p.outH * p.outW) throw new Error('conv2d: residual too small');
  const inSize = p.inC * p.inH * p.inW;
  const outSize = p.outC * p.outH * p.outW;
  const resOf = (i: number): Float32Array | null => (ep?.residual ? ep.residual.subarray(i * outSize, (i + 1) * outSize) : null);
  const wino = winogradApplies(p);
  const one = (i: number): void =>
    conv2dOne(x.subarray(i * inSize, (i + 1) * inSize), w, bias, p, out.subarray(i * outSize, (i + 1) * outSize), ep, resOf(i), wino);
  const r = rt();
  if (!r) {
    for (let i = 0; i < n; i++) one(i);
    return;
  }
  const threads = getThreads();
  const extra = wino ? winoExtraBytes(p) : 0;
  let pooled = n > 1 && threads > 1 && fits(r, convBytes(p, getThreads()) + extra);
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
  const need = convBytes(p, threads) + (ep?.residual ? 4 * threads * outSize : 0) + extra;
  const m = wino ? winoTile(p) : 0;
  let pw = wino ? cachedWinoWeights(r, w, p, m, (rr) => writeParams(rr, p, false), idle) : cachedWeights(r, w, p, idle);
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
  if (pw < 0) pw = wino ? putWinoWeights(r, pP, w, p, m, idle) : putWeights(r, pP, w, p, idle, false);
  const R = wino ? winoRows(p, m) : 0;
  const wsF = wino ? r.ex.wino_ws_floats(pP, m, R) : wsFloats(r, pP, p);
  const ws = Array.from({ length: T }, () => r.alloc(wsF));
  // whole rounds of T images per core; the last n % T images are split across the cores by conv2d
  const nWhole = n - (n % T);
  const resF = ep?.residual ? outSize : 0;
  let round = Math.max(T, Math.min(nWhole, Math.floor(BATCH_ROUND_BYTES / ((inSize + outSize + resF) * 4 * T)) * T));
  if (!fits(r, convBytes(p, round) + 4 * round * resF + extra)) round = T;
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
  const kind = wino ? 2 : isDepthwise(p) ? 1 : 0;
  for (let i0 = 0; i0 < nWhole; i0 += round) {
    const cnt = Math.min(round, nWhole - i0);
    const pxr = xa >= 0 ? xa + 4 * i0 * inSize : px;
    const poutr = oa >= 0 ? oa + 4 * i0 * outSize : pout;
    const presr = rsa >= 0 ? rsa + 4 * i0 * outSize : pres;
    if (xa < 0) r.F32().set(x.subarray(i0 * inSize, (i0 + cnt) * inSize), px >>> 2);
    if (pres) r.F32().set(ep!.residual!.subarray(i0 * outSize, (i0 + cnt) * outSize), pres >>> 2);
    if (st) for (let i = 0; i < cnt; i++) writeEpi(r, pep + i * EPI_BYTES, st, presr ? presr + i * outSize * 4 : 0);
    r.parallel(JOB_CONV_IMAGES, ws.map((wsT) => [kind, pP, pxr, pw, pb, poutr, inSize * 4, outSize * 4, cnt, wsT, pep, EPI_BYTES, R, m]), idle);
    if (wino) countWinograd(cnt);
    if (oa < 0) r.get(pout, out.subarray(i0 * outSize, (i0 + cnt) * outSize));
  }
  for (let i = nWhole; i < n; i++) one(i);
}

