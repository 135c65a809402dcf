/**
 * Winograd F(2x2,3x3) convolution (wasm/winograd.c) for the float layer path: 3x3, stride 1, dilation 1,
 * group 1 convs of enough channels, 16 multiplications per 2x2 output tile instead of 36. Not exact (the
 * transforms round), so it serves conv2dBatch only; conv2d, whose integer-valued sums the simulator relies on
 * being exact, never takes it. CHAIQ_WINOGRAD=0 (or setWinograd(false)) turns it off.
 */
import { getThreads } from './config';
import type { Conv2dParams } from './types';
import { cachedOperand } from './weight-cache';
import type { WasmRuntime } from './wasm-runtime';

let wanted = process.env.CHAIQ_WINOGRAD !== '0';
let calls = 0;

/** Convolutions (images) run on the Winograd path so far (tests, benches). */
export function winogradCalls(): number {
  return calls;
}

/** Count n images run on the Winograd path. */
export function countWinograd(n: number): void {
  calls += n;
}

/** Allow (true) or forbid (false) the Winograd path. Initial value: CHAIQ_WINOGRAD !== '0'. */
export function setWinograd(on: boolean): void {
  wanted = on;
}

export function winogradEnabled(): boolean {
  return wanted;
}

/** Below these channel counts the GEMMs are too thin for the transforms to pay (measured, kernels bench). */
const MIN_IN_C = 16;
const MIN_OUT_C = 16;

/** Whether conv p takes the Winograd path (when enabled). */
export function winogradApplies(p: Conv2dParams): boolean {
  return wanted && p.kH === 3 && p.kW === 3 && p.strideH === 1 && p.strideW === 1 && p.dilH === 1 && p.dilW === 1 &&
    p.group === 1 && p.padH <= 2 && p.padW <= 2 && p.inC >= MIN_IN_C && p.outC >= MIN_OUT_C && p.outH >= 2 && p.outW >= 2;
}

/** Target tiles per block: enough columns for the GEMMs to reuse each weight panel, few enough to stay in cache. */
const BLOCK_TILES = 64;

/**
 * Tile rows per block for `parts` blocks at least (so that the threads of a single image share the work);
 * parts = 1 for a whole image per thread.
 */
export function winoRows(p: Conv2dParams, parts: number): number {
  const tw = Math.ceil(p.outW / 2);
  const th = Math.ceil(p.outH / 2);
  let R = Math.max(1, Math.min(th, Math.round(BLOCK_TILES / tw)));
  // the transformed block (16 x (C + K) x tiles floats) within ~2 MB
  while (R > 1 && 64 * (p.inC + p.outC) * R * tw > 2 << 20) R--;
  if (parts > 1) R = Math.min(R, Math.max(1, Math.floor(th / (2 * parts))));
  return R;
}

export function winoBlocks(p: Conv2dParams, R: number): number {
  return Math.ceil(Math.ceil(p.outH / 2) / R);
}

/** Upper bound of the extra wasm bytes the Winograd path needs over the direct one (weights and workspaces). */
export function winoExtraBytes(p: Conv2dParams): number {
  const kp = Math.ceil(p.outC / 8) * 8;
  const tw = Math.ceil(p.outW / 2);
  const R = winoRows(p, 1);
  const nbp = Math.ceil((R * tw) / 8) * 8;
  const ws = (2 * R + 2) * (2 * (tw + 3) + 8) + 16 * nbp * (p.inC + kp) + 128;
  return 4 * (16 * kp * p.inC + (getThreads() + 1) * ws);
}

/**
 * The transformed weights of conv p in wasm memory, from the cache when possible (call before anything else is
 * allocated in the arena: a miss resets it); -1 when the cache cannot take them.
 */
export function cachedWinoWeights(r: WasmRuntime, w: Float32Array, p: Conv2dParams, pP: (r: WasmRuntime) => number): number {
  const wLen = p.outC * p.inC * 9;
  return cachedOperand(r, w, wLen, `wino2:${p.outC}:${p.inC}:${r.MR}`, winoWeightFloats(r, p), (addr) => {
    r.reset();
    transformWeights(r, pP(r), r.put(w.subarray(0, wLen)), addr, p);
  });
}

function winoWeightFloats(r: WasmRuntime, p: Conv2dParams): number {
  return 16 * Math.ceil(p.outC / r.MR) * r.MR * p.inC;
}

function transformWeights(r: WasmRuntime, pP: number, pw: number, pU: number, p: Conv2dParams): void {
  r.ex.wino_pack_w(pP, pw, pU, 0, Math.ceil(p.outC / r.MR) * r.MR);
}

/** The transformed weights in the arena (no cache); returns the address. */
export function putWinoWeights(r: WasmRuntime, pP: number, w: Float32Array, p: Conv2dParams): number {
  const pw = r.put(w.subarray(0, p.outC * p.inC * 9));
  const pU = r.alloc(winoWeightFloats(r, p));
  transformWeights(r, pP, pw, pU, p);
  return pU;
}
