/**
 * Winograd convolution (wasm/winograd.c: F(2x2,3x3) and F(4x4,3x3)) for the float layer path: 3x3, stride 1,
 * dilation 1, group 1 convs of enough channels, 4 or 2.25 multiplications per output instead of 9. Not exact (the
 * transforms round), so it serves conv2dBatch only; conv2d, whose integer-valued sums the simulator relies on
 * being exact, never takes it. CHAIQ_WINOGRAD=0 (or setWinograd(false)) turns it off.
 */
import { chunks, getThreads } from './config';
import type { Conv2dParams } from './types';
import { cachedOperand } from './weight-cache';
import { JOB_WINO_PACK, type WasmRuntime } from './wasm-runtime';

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

/**
 * Output tile size: F(4x4,3x3) (36 points, 2.25 multiplications per output) where the output has room for its
 * tiles, F(2x2,3x3) (16 points, 4 per output) on small maps, whose 4x4 tiles would mostly be padding.
 * CHAIQ_WINOGRAD=2 or 4 forces one of them.
 */
export function winoTile(p: Conv2dParams): 2 | 4 {
  const force = process.env.CHAIQ_WINOGRAD;
  if (force === '2' || force === '4') return force === '2' ? 2 : 4;
  return Math.min(p.outH, p.outW) >= F4_MIN_OUT ? 4 : 2;
}

/** Smallest output side on F(4x4,3x3) (kernels bench per shape). */
const F4_MIN_OUT = 12;

/** Target tiles per block: enough columns for the GEMMs to reuse each weight panel, few enough to stay in cache. */
const BLOCK_TILES = 64;

const pts = (m: number): number => (m + 2) * (m + 2);

/** Tile rows per block: about BLOCK_TILES tiles, the transformed block within ~2 MB. */
export function winoRows(p: Conv2dParams, m: number): number {
  const tw = Math.ceil(p.outW / m);
  const th = Math.ceil(p.outH / m);
  let R = Math.max(1, Math.min(th, Math.round(BLOCK_TILES / tw)));
  while (R > 1 && 4 * pts(m) * (p.inC + p.outC) * R * tw > 2 << 20) R--;
  return R;
}

export function winoBlocks(p: Conv2dParams, m: number, R: number): number {
  return Math.ceil(Math.ceil(p.outH / m) / R);
}

/**
 * Whether the threads of one image share it step by step (wino_phase: input transform by channels, GEMMs by
 * transform points, inverse transform by output channels; three hand-offs) rather than by blocks of tile rows:
 * when the map has too few blocks to go round. Smaller blocks would each read all the transformed weights (7x7
 * maps: 4 blocks of one tile row read 4 times the 17 MB of ResNet-50's res5 weights).
 */
export function winoShared(p: Conv2dParams, m: number, threads: number): boolean {
  return threads > 1 && winoBlocks(p, m, winoRows(p, m)) < 2 * threads;
}

/** Upper bound of the extra wasm bytes the Winograd path needs over the direct one (weights and workspaces). */
export function winoExtraBytes(p: Conv2dParams): number {
  const m = winoTile(p);
  const kp = Math.ceil(p.outC / 8) * 8;
  const tw = Math.ceil(p.outW / m);
  const R = winoRows(p, m);
  const nbp = Math.ceil((R * tw) / 8) * 8;
  const ws = (m * R + 2) * (m * (tw + 3) + 8) + pts(m) * nbp * (p.inC + kp) + 128;
  const shared = pts(m) * Math.ceil((Math.ceil(p.outH / m) * tw) / 8) * 8 * (p.inC + kp) + 128;
  return 4 * (pts(m) * kp * p.inC + (getThreads() + 1) * ws + shared);
}

/**
 * The transformed weights of conv p (tiles of m) in wasm memory, from the cache when possible (call before anything
 * else is allocated in the arena: a miss resets it); -1 when the cache cannot take them.
 */
export function cachedWinoWeights(r: WasmRuntime, w: Float32Array, p: Conv2dParams, m: number, pP: (r: WasmRuntime) => number, idle: number[]): number {
  const wLen = p.outC * p.inC * 9;
  return cachedOperand(r, w, wLen, `wino${m}:${p.outC}:${p.inC}:${r.MR}`, winoWeightFloats(r, p, m), (addr) => {
    r.reset();
    transformWeights(r, pP(r), r.put(w.subarray(0, wLen)), addr, p, m, idle);
  });
}

function winoWeightFloats(r: WasmRuntime, p: Conv2dParams, m: number): number {
  return pts(m) * Math.ceil(p.outC / r.MR) * r.MR * p.inC;
}

/** U = G g Gᵀ of every output channel (in double: ~50 ns a weight), on the idle workers too when there are many. */
function transformWeights(r: WasmRuntime, pP: number, pw: number, pU: number, p: Conv2dParams, m: number, idle: number[]): void {
  const kp = Math.ceil(p.outC / r.MR) * r.MR;
  const T = p.outC * p.inC >= 1 << 14 ? idle.length + 1 : 1;
  if (T === 1) {
    r.ex.wino_pack_w(pP, m, pw, pU, 0, kp);
    return;
  }
  const [ch, nc] = chunks(kp, T, r.MR, r.MR);
  r.parallel(JOB_WINO_PACK, Array.from({ length: T }, () => [pP, m, pw, pU, kp, ch, nc]), idle);
}

/** The transformed weights in the arena (no cache); returns the address. */
export function putWinoWeights(r: WasmRuntime, pP: number, w: Float32Array, p: Conv2dParams, m: number, idle: number[]): number {
  const pw = r.put(w.subarray(0, p.outC * p.inC * 9));
  const pU = r.alloc(winoWeightFloats(r, p, m));
  transformWeights(r, pP, pw, pU, p, m, idle);
  return pU;
}
