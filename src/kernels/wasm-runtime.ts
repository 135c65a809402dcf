/**
 * The WebAssembly side of the kernels: chaiq's one wasm module (kernels.c, in its FMA or SIMD128 build, see
 * wasm-features.ts), one shared linear memory, one instance per thread (the main thread plus a persistent
 * pool of worker_threads), and a tiny Atomics-based job protocol so that a synchronous conv2d() can hand
 * half of its output to a worker and block (Atomics.wait) until it is done.
 */
import { Worker } from 'worker_threads';
import { moduleBytes, type KernelVariant } from './wasm-features';

export interface KernelExports {
  geometry(what: number): number;
  pack_a(A: number, lda: number, M: number, K: number, Ap: number): void;
  gemm_part(M: number, N: number, K: number, Ap: number, B: number, transB: number, C: number,
    m0: number, m1: number, n0: number, n1: number, accumulate: number, ws: number): void;
  gemm_ws_floats(): number;
  pack_conv_weights(p: number, w: number, Ap: number): void;
  conv_part(p: number, x: number, Ap: number, bias: number, out: number, m0: number, m1: number, n0: number, n1: number, ws: number, ep: number): void;
  dw_ws_floats(p: number): number;
  pack_conv_panels(p: number, w: number, Ap: number, q0: number, q1: number): void;
  gemv_t_part(M: number, N: number, K: number, A: number, B: number, C: number, n0: number, n1: number, accumulate: number): void;
  dw_part(p: number, x: number, w: number, bias: number, out: number, c0: number, c1: number, ws: number, ep: number): void;
  maxpool(x: number, y: number, planes: number, h: number, w: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): void;
  avepool(x: number, y: number, planes: number, h: number, w: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): void;
  lrn075_part(x: number, y: number, c: number, hw: number, size: number, k: number, a: number, acc: number, p0: number, p1: number): void;
  relu(x: number, y: number, n: number): void;
  add2(a: number, b: number, y: number, n: number): void;
  chan_affine(x: number, y: number, planes: number, inner: number, mid: number, a: number, b: number, mode: number, m0: number): void;
  iconv_ws_bytes(p: number): number;
  iconv_pack_w(p: number, w: number, wp: number): void;
  iconv_part(p: number, x: number, wp: number, out: number, n0: number, n1: number, ws: number): void;
  wino_w_floats(p: number, m: number): number;
  wino_ws_floats(p: number, m: number, R: number): number;
  wino_pack_w(p: number, m: number, w: number, Up: number, k0: number, k1: number): void;
  wino_part(p: number, m: number, x: number, Up: number, bias: number, out: number, R: number, b0: number, b1: number, k0: number, k1: number,
    ws: number, ep: number): void;
  wino_shared_floats(p: number, m: number): number;
  wino_phase(p: number, m: number, phase: number, x: number, Up: number, bias: number, out: number, V: number, lo: number, hi: number,
    ws: number, ep: number): void;
}

// lib "ES2022" has no WebAssembly typings (they live in lib.dom): the few pieces used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: object };
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * Job kinds understood by the worker loop (also run inline on the main thread). Work is cut into chunks that
 * every participating thread claims from one shared counter, so a thread that the OS descheduled (other
 * processes on the machine) does not hold the others up.
 *  JOB_CONV:  [p, x, Ap, bias, out, mg, N, dim (0: chunks of output pixels, 1: of output channels), chunk, nChunks, ws, ep]
 *  JOB_DW:    [p, x, w, bias, out, C, chunk, nChunks, ws, ep]              (chunks of channels)
 *  JOB_GEMM:  [M, N, K, Ap, B, transB, C, accumulate, dim, chunk, nChunks, ws]
 *  JOB_PACK:   [p, w, Ap, chunk, nChunks]                                 (chunks of MR-row weight panels)
 *  JOB_GEMV_T: [M, N, K, A, B, C, accumulate, chunk, nChunks]           (chunks of columns)
 *  JOB_CONV_IMAGES: [kind (0: GEMM, 1: depthwise, 2: Winograd), p, x, wOrAp, bias, out, xStrideBytes, outStrideBytes, nImages, ws, ep,
 *                    epStrideBytes, R, m (Winograd: tile rows per block, tile size)]  (one image a chunk)
 *  JOB_WINO:  [p, m, x, Up, bias, out, R, K, kChunk, nK, nChunks, ws, ep]  (chunk i: block i / nK of R tile rows,
 *             output channels [kChunk·(i % nK), +kChunk))
 *  JOB_WINO_PHASE: [p, m, phase, x, Up, bias, out, V, n, chunk, nChunks, ws, ep]  (one step of a map shared by the
 *             threads: chunks of input channels, transform points or output channels)
 *  JOB_WINO_PACK: [p, m, w, Up, Kp, chunk, nChunks]                 (the weight transform, chunks of output channels)
 *  JOB_POOL:  [isMax, x, y, planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw, chunk, nChunks]   (chunks of planes)
 *  JOB_LRN:   [x, y, c, hw, size, kaAddr (two doubles k, a), acc, chunk, nChunks]   (chunks of pixels)
 *  JOB_ICONV: [p, x, wp, out, N, chunk, nChunks, ws]                        (chunks of output pixels)
 * ep: 0 or the address of the conv's epilogue (EpiP in kernels.c)
 */
export const JOB_EXIT = 0;
export const JOB_CONV = 1;
export const JOB_DW = 2;
export const JOB_GEMM = 3;
export const JOB_CONV_IMAGES = 4;
export const JOB_GEMV_T = 5;
export const JOB_PACK = 6;
export const JOB_POOL = 7;
export const JOB_LRN = 8;
export const JOB_ICONV = 9;
export const JOB_WINO = 16;
export const JOB_WINO_PHASE = 17;
export const JOB_WINO_PACK = 18;
/** [p, x, Up, out, R, nK, kChunk, nChunks, ws]: sim-winograd.ts (chunk i: block i / nK, output channels (i % nK)·kChunk..) */
export const JOB_SIM_WINO = 19;
/**
 * sim-twin-threads.ts, chunks of values / output channels, the max |q| of the thread's chunks into the int32 at maxAddr
 * (one word per thread):
 *  JOB_SIM_QUANT:   [kind, x, q, f, n, abc (three doubles a, b, c), lo, hi, chunk, nChunks, maxAddr]
 *  JOB_SIM_REQUANT: [dynfixed, acc, accI32, outQ, outF, C, plane, S or bias, bq, shift, lo, hi, amaxAddr (a double), chunk, nChunks, maxAddr]
 */
export const JOB_SIM_QUANT = 20;
export const JOB_SIM_REQUANT = 21;
/** [p (ErrP in sim-metrics.c), nBlocks, chunk, nChunks]: sim-metrics.ts, chunks of error-sum blocks */
export const JOB_ERR_SUMS = 22;
/**
 * [P (SimDwP in sim-dw.c), images, chunk, nChunks, ws, maxAddr]: sim-dw.ts, chunk i the channels
 * ⌊i / images⌋·chunk.. of image i % images; the thread's max |y| per image into the two int32 at maxAddr
 */
export const JOB_SIM_DW = 23;

const SLOT = 32; // Int32 words of control block per worker: seq, done, state, cmd, args...
const MAX_WORKERS = 63;
const COUNTER = MAX_WORKERS * SLOT; // the chunk counter of the running job
const ARGS = 4;
const SLEEPS = SLOT - 1; // times the worker went to sleep on Atomics.wait (tests, benches)
const ZONE_START = 1 << 20; // below: the (unused) shadow stack lld reserves
/**
 * [ZONE_START, HEAP_START): activation buffers handed out as Float32Array views (zoneView), so that kernels
 * read and write them in place. Address space only until used (untouched pages are not resident).
 */
const ZONE_BYTES = 256 << 20;
const HEAP_START = ZONE_START + ZONE_BYTES;

/**
 * How long a kernel thread polls for the other side before it sleeps on Atomics.wait (µs), from CHAIQ_SPIN_US
 * (at most 10 ms). Off by default: on the loaded 2-core machine polling cost more than the wake-ups it saves
 * (ResNet-50, load 28-31: 200 µs no better, 1000 µs 20-40 % slower); on an otherwise idle machine it keeps a
 * worker awake between layers that follow each other within that time.
 */
export function spinMicros(env: NodeJS.ProcessEnv = process.env): number {
  const e = env.CHAIQ_SPIN_US;
  const v = Number(e);
  return e !== undefined && e !== '' && Number.isFinite(v) && v >= 0 ? Math.min(v, 10000) : 0;
}

/** Polls c[i] for up to `us` µs while it equals v; returns its last value. */
function spinSource(): string {
  return `function spinWhile(c, i, v, us) {
  let s = Atomics.load(c, i);
  if (s !== v || us <= 0) return s;
  const end = performance.now() + us / 1000;
  do {
    for (let k = 0; k < 64; k++) if ((s = Atomics.load(c, i)) !== v) return s;
  } while (performance.now() < end);
  return s;
}`;
}
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const spinWhile = new Function(`${spinSource()}; return spinWhile;`)() as (c: Int32Array, i: number, v: number, us: number) => number;

// Runs in each worker (eval'd, so it loads the same way from ts-jest and from dist/).
const workerSource = (spinUs: number): string => `
const { workerData } = require('worker_threads');
const { performance } = require('perf_hooks');
const { module, memory, ctrl: sab, slot } = workerData;
const c = new Int32Array(sab);
const b = slot * ${SLOT};
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
${runJobSource()}
${spinSource()}
Atomics.store(c, b + 2, 1);
let last = 0;
for (;;) {
  let s = spinWhile(c, b, last, ${spinUs});
  if (s === last) {
    Atomics.add(c, b + ${SLEEPS}, 1);
    Atomics.wait(c, b, last);
    s = Atomics.load(c, b);
  }
  if (s === last) continue;
  last = s;
  const cmd = c[b + 3];
  if (cmd === ${JOB_EXIT}) break;
  try { runJob(ex, cmd, c, b + ${ARGS}, c); } catch (e) { Atomics.store(c, b + 2, -1); }
  Atomics.store(c, b + 1, s);
  Atomics.notify(c, b + 1);
}
`;

function runJobSource(): string {
  return `function runJob(ex, cmd, a, o, ctr) {
  const next = () => Atomics.add(ctr, ${COUNTER}, 1);
  let i;
  if (cmd === ${JOB_CONV}) {
    const mg = a[o+5], N = a[o+6], dim = a[o+7], ch = a[o+8], nc = a[o+9];
    while ((i = next()) < nc) {
      const lo = i * ch;
      if (dim === 0) ex.conv_part(a[o], a[o+1], a[o+2], a[o+3], a[o+4], 0, mg, lo, Math.min(N, lo + ch), a[o+10], a[o+11]);
      else ex.conv_part(a[o], a[o+1], a[o+2], a[o+3], a[o+4], lo, Math.min(mg, lo + ch), 0, N, a[o+10], a[o+11]);
    }
  } else if (cmd === ${JOB_DW}) {
    const C = a[o+5], ch = a[o+6], nc = a[o+7];
    while ((i = next()) < nc) ex.dw_part(a[o], a[o+1], a[o+2], a[o+3], a[o+4], i * ch, Math.min(C, (i + 1) * ch), a[o+8], a[o+9]);
  } else if (cmd === ${JOB_GEMM}) {
    const M = a[o], N = a[o+1], dim = a[o+8], ch = a[o+9], nc = a[o+10];
    while ((i = next()) < nc) {
      const lo = i * ch;
      if (dim === 0) ex.gemm_part(M, N, a[o+2], a[o+3], a[o+4], a[o+5], a[o+6], 0, M, lo, Math.min(N, lo + ch), a[o+7], a[o+11]);
      else ex.gemm_part(M, N, a[o+2], a[o+3], a[o+4], a[o+5], a[o+6], lo, Math.min(M, lo + ch), 0, N, a[o+7], a[o+11]);
    }
  } else if (cmd === ${JOB_PACK}) {
    const ch = a[o+3], nc = a[o+4];
    while ((i = next()) < nc) ex.pack_conv_panels(a[o], a[o+1], a[o+2], i * ch, (i + 1) * ch);
  } else if (cmd === ${JOB_GEMV_T}) {
    const N = a[o+1], ch = a[o+7], nc = a[o+8];
    while ((i = next()) < nc) ex.gemv_t_part(a[o], N, a[o+2], a[o+3], a[o+4], a[o+5], i * ch, Math.min(N, (i + 1) * ch), a[o+6]);
  } else if (cmd === ${JOB_POOL}) {
    const planes = a[o+3], h = a[o+4], w = a[o+5], oh = a[o+6], ow = a[o+7], ch = a[o+14], nc = a[o+15];
    const f = a[o] ? ex.maxpool : ex.avepool;
    while ((i = next()) < nc) {
      const p0 = i * ch, np = Math.min(planes, p0 + ch) - p0;
      f(a[o+1] + 4 * p0 * h * w, a[o+2] + 4 * p0 * oh * ow, np, h, w, oh, ow, a[o+8], a[o+9], a[o+10], a[o+11], a[o+12], a[o+13]);
    }
  } else if (cmd === ${JOB_LRN}) {
    const hw = a[o+3], ch = a[o+7], nc = a[o+8];
    const ka = new Float64Array(memory.buffer, a[o+5] >>> 0, 2);
    while ((i = next()) < nc) ex.lrn075_part(a[o], a[o+1], a[o+2], hw, a[o+4], ka[0], ka[1], a[o+6], i * ch, Math.min(hw, (i + 1) * ch));
  } else if (cmd === ${JOB_ICONV}) {
    const N = a[o+4], ch = a[o+5], nc = a[o+6];
    while ((i = next()) < nc) ex.iconv_part(a[o], a[o+1], a[o+2], a[o+3], i * ch, Math.min(N, (i + 1) * ch), a[o+7]);
  } else if (cmd === ${JOB_WINO}) {
    const K = a[o+7], kch = a[o+8], nk = a[o+9], nc = a[o+10];
    while ((i = next()) < nc) {
      const b = (i / nk) | 0, k0 = (i - b * nk) * kch;
      ex.wino_part(a[o], a[o+1], a[o+2], a[o+3], a[o+4], a[o+5], a[o+6], b, b + 1, k0, Math.min(K, k0 + kch), a[o+11], a[o+12]);
    }
  } else if (cmd === ${JOB_WINO_PHASE}) {
    const n = a[o+8], ch = a[o+9], nc = a[o+10];
    while ((i = next()) < nc) ex.wino_phase(a[o], a[o+1], a[o+2], a[o+3], a[o+4], a[o+5], a[o+6], a[o+7], i * ch, Math.min(n, (i + 1) * ch), a[o+11], a[o+12]);
  } else if (cmd === ${JOB_WINO_PACK}) {
    const n = a[o+4], ch = a[o+5], nc = a[o+6];
    while ((i = next()) < nc) ex.wino_pack_w(a[o], a[o+1], a[o+2], a[o+3], i * ch, Math.min(n, (i + 1) * ch));
  } else if (cmd === ${JOB_SIM_WINO}) {
    while ((i = next()) < a[o+7]) { const b = (i / a[o+5]) | 0, k0 = (i - b * a[o+5]) * a[o+6]; ex.simw_part(a[o], a[o+1], a[o+2], a[o+3], a[o+4], b, k0, k0 + a[o+6], a[o+8]); }
  } else if (cmd === ${JOB_SIM_QUANT}) {
    const n = a[o+4], ch = a[o+8], nc = a[o+9];
    const d = new Float64Array(memory.buffer, a[o+5] >>> 0, 3);
    let mx = 0;
    while ((i = next()) < nc) {
      const lo = i * ch, off = 4 * lo;
      mx = Math.max(mx, ex.sim_quantize4(a[o], a[o+1] + off, a[o+2] + off, a[o+3] + off, Math.min(n, lo + ch) - lo, d[0], d[1], d[2], a[o+6], a[o+7]));
    }
    new Int32Array(memory.buffer, a[o+10] >>> 0, 1)[0] = mx;
  } else if (cmd === ${JOB_SIM_REQUANT}) {
    const C = a[o+5], plane = a[o+6], ch = a[o+13], nc = a[o+14];
    const amax = new Float64Array(memory.buffer, a[o+12] >>> 0, 1)[0];
    let mx = 0;
    while ((i = next()) < nc) {
      const c0 = i * ch, nC = Math.min(C, c0 + ch) - c0, off = 4 * c0 * plane;
      mx = Math.max(mx, a[o]
        ? ex.sim_requant_dynfixed(a[o+1] + off, a[o+2], a[o+3] + off, a[o+4] + off, nC, plane, a[o+7] + 4 * c0, a[o+9], a[o+10], a[o+11], amax)
        : ex.sim_requant_xilinx(a[o+1] + off, a[o+2], a[o+3] + off, a[o+4] + off, nC, plane, a[o+7] + 8 * c0, a[o+8] + 8 * c0, a[o+10], a[o+11], amax));
    }
    new Int32Array(memory.buffer, a[o+15] >>> 0, 1)[0] = mx;
  } else if (cmd === ${JOB_SIM_DW}) {
    const im = a[o+1], ch = a[o+2], nc = a[o+3];
    const mx = new Int32Array(memory.buffer, a[o+5] >>> 0, 2);
    while ((i = next()) < nc) {
      const m = i % im, c0 = ((i / im) | 0) * ch;
      mx[m] = Math.max(mx[m], ex.simd_part(a[o], m, c0, c0 + ch, a[o+4]));
    }
  } else if (cmd === ${JOB_ERR_SUMS}) {
    const nb = a[o+1], ch = a[o+2], nc = a[o+3];
    while ((i = next()) < nc) ex.err_sums_part(a[o], i * ch, Math.min(nb, (i + 1) * ch));
  } else if (cmd === ${JOB_CONV_IMAGES}) {
    const isDw = a[o], p = a[o+1], x = a[o+2], w = a[o+3], bias = a[o+4], out = a[o+5];
    const xs = a[o+6], os = a[o+7], n = a[o+8], ws = a[o+9], ep0 = a[o+10], eps = a[o+11];
    const i32 = new Int32Array(memory.buffer, p >>> 0, 15);
    const N = i32[4] * i32[5], C = i32[3], mg = i32[3] / i32[14];
    while ((i = next()) < n) {
      const ep = ep0 ? ep0 + i * eps : 0;
      if (isDw === 2) ex.wino_part(p, a[o+13], x + i * xs, w, bias, out + i * os, a[o+12], 0, N, 0, C, ws, ep);
      else if (isDw) ex.dw_part(p, x + i * xs, w, bias, out + i * os, 0, C, ws, ep);
      else ex.conv_part(p, x + i * xs, w, bias, out + i * os, 0, mg, 0, N, ws, ep);
    }
  }
}`;
}
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const runJob = new Function('memory', `${runJobSource()}; return runJob;`);

interface WorkerSlot {
  worker: Worker;
  slot: number;
}

export class WasmRuntime {
  readonly module: WasmModule;
  readonly memory: WasmMemory;
  readonly ex: KernelExports;
  readonly MR: number;
  readonly NR: number;
  /** which build of the module runs: 'fma' (relaxed-SIMD multiply-add) or 'simd128' */
  readonly variant: KernelVariant;
  private readonly ctrlSab = new SharedArrayBuffer(64 * SLOT * 4);
  private readonly ctrl = new Int32Array(this.ctrlSab);
  private workers: WorkerSlot[] = [];
  private top = HEAP_START;
  /**
   * Start of the per-call arena. Below it (from HEAP_START): long-lived blocks (packed weights cached across
   * calls, see cacheReserve). `generation` changes whenever they are all dropped.
   */
  private base = HEAP_START;
  generation = 0;
  private noWorkers = false;
  /** µs a thread polls before it sleeps (spinMicros) */
  readonly spinUs = spinMicros();
  /** jobs handed to workers so far (for tests and benches) */
  workerJobs = 0;
  private f32 = new Float32Array(0);
  private i32 = new Int32Array(0);
  private f64 = new Float64Array(0);
  private readonly runJobFn: (ex: KernelExports, cmd: number, a: Int32Array, o: number, ctr: Int32Array) => void;

  /** free [start, end) byte ranges of the zone, sorted, coalesced */
  private zoneFree: Array<[number, number]> = [[ZONE_START, HEAP_START]];
  /** every SharedArrayBuffer object the memory has shown (one per size it grew to): views on any are ours */
  private readonly sabs = new WeakSet<ArrayBufferLike>();
  private readonly zoneReg = new FinalizationRegistry<[number, number]>((blk) => this.zoneRelease(blk[0], blk[1]));

  constructor() {
    const { bytes, variant } = moduleBytes();
    this.variant = variant;
    this.module = new WA.Module(bytes);
    this.memory = new WA.Memory({ initial: 256, maximum: 65536, shared: true });
    this.ex = new WA.Instance(this.module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
    this.MR = this.ex.geometry(0);
    this.NR = this.ex.geometry(1);
    this.runJobFn = runJob(this.memory);
  }

  // ---- arena: reset at the start of every top-level kernel call (calls are synchronous, not re-entrant)
  reset(): void {
    this.top = this.base;
  }

  /** Bytes held by long-lived (cached) blocks. */
  cachedBytes(): number {
    return this.base - HEAP_START;
  }

  /** Drop every long-lived block (their addresses become arena space again). */
  flushCache(): void {
    this.generation++;
    this.base = HEAP_START;
    this.top = HEAP_START;
  }

  /**
   * A long-lived block of `floats` float32s below the arena (the arena is reset: call this before a kernel
   * call allocates anything). Returns its byte address, or -1 when it would take the cache past `capBytes`
   * (after dropping everything cached once) or the memory cannot grow.
   */
  cacheReserve(floats: number, capBytes: number): number {
    const bytes = (floats * 4 + 63) & ~63;
    if (bytes > capBytes) return -1;
    if (this.base - HEAP_START + bytes > capBytes) this.flushCache();
    const addr = this.base;
    const end = addr + bytes;
    if (!(end < 0xfff00000)) return -1;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / 65536));
      } catch {
        return -1;
      }
    }
    this.base = end;
    this.top = end;
    return addr;
  }

  /** Whether `bytes` past the arena start fit in wasm32 memory and the memory can grow to them. */
  canHold(bytes: number): boolean {
    const end = this.base + bytes;
    if (!(end < 0xfff00000)) return false;
    const have = this.memory.buffer.byteLength;
    if (end <= have) return true;
    try {
      this.memory.grow(Math.ceil((end - have) / 65536));
      return true;
    } catch {
      return false;
    }
  }

  /** Reserve `floats` float32s; returns a byte address (64-byte aligned). */
  alloc(floats: number): number {
    const addr = this.top;
    this.top = (addr + floats * 4 + 63) & ~63;
    if (this.top > 0xfff00000 || this.top < addr) throw new Error('chaiq kernels: tensor too large for wasm memory');
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / 65536));
    return addr;
  }

  /**
   * A Float32Array of n floats in the zone (kernels use it in place), or null when the zone is full. Its
   * memory returns to the zone when the view is garbage-collected. Contents are stale: callers zero it.
   */
  zoneView(n: number): Float32Array | null {
    const bytes = Math.max(64, (n * 4 + 63) & ~63);
    const fl = this.zoneFree;
    for (let i = 0; i < fl.length; i++) {
      const [a, b] = fl[i];
      if (b - a < bytes) continue;
      if (b - a === bytes) fl.splice(i, 1);
      else fl[i] = [a + bytes, b];
      if (this.memory.buffer.byteLength < HEAP_START) this.memory.grow(Math.ceil((HEAP_START - this.memory.buffer.byteLength) / 65536));
      const v = new Float32Array(this.F32().buffer, a, n);
      this.zoneReg.register(v, [a, bytes], v);
      return v;
    }
    return null;
  }

  /**
   * Give a zone view's memory back now instead of when it is collected; the caller guarantees that nothing reads
   * it any more. false (nothing done) when v is not a view zoneView returned or was given back already.
   */
  zoneReturn(v: Float32Array): boolean {
    const a = this.addrOf(v);
    if (a < 0 || !this.zoneReg.unregister(v)) return false;
    this.zoneRelease(a, Math.max(64, (v.length * 4 + 63) & ~63));
    return true;
  }

  private zoneRelease(a: number, bytes: number): void {
    const fl = this.zoneFree;
    let i = 0;
    while (i < fl.length && fl[i][0] < a) i++;
    fl.splice(i, 0, [a, a + bytes]);
    // coalesce with the neighbours
    if (i + 1 < fl.length && fl[i][1] === fl[i + 1][0]) fl.splice(i, 2, [fl[i][0], fl[i + 1][1]]);
    if (i > 0 && fl[i - 1][1] === fl[i][0]) fl.splice(i - 1, 2, [fl[i - 1][0], fl[i][1]]);
  }

  /** Byte address of `a` when it lies in this memory (a zone view or a view of one), else -1. */
  addrOf(a: Float32Array): number {
    return this.sabs.has(a.buffer) ? a.byteOffset : -1;
  }

  F32(): Float32Array {
    const buf = this.memory.buffer;
    if (this.f32.buffer !== buf || this.f32.length * 4 !== buf.byteLength) {
      this.sabs.add(buf);
      this.f32 = new Float32Array(buf);
      this.i32 = new Int32Array(buf);
    }
    return this.f32;
  }

  I32(): Int32Array {
    this.F32();
    return this.i32;
  }

  F64(): Float64Array {
    const buf = this.memory.buffer;
    if (this.f64.buffer !== buf || this.f64.length * 8 !== buf.byteLength) this.f64 = new Float64Array(buf);
    return this.f64;
  }

  putF64(src: Float64Array): number {
    const addr = this.alloc(2 * src.length);
    this.F64().set(src, addr >>> 3);
    return addr;
  }

  put(src: Float32Array): number {
    const addr = this.alloc(src.length);
    this.F32().set(src, addr >>> 2);
    return addr;
  }

  get(addr: number, dst: Float32Array): void {
    dst.set(this.F32().subarray(addr >>> 2, (addr >>> 2) + dst.length));
  }

  // ---- threads
  /** Make sure `n` workers exist (they become usable once they flag themselves ready). */
  ensureWorkers(n: number): void {
    n = Math.min(n, MAX_WORKERS);
    while (this.workers.length < n && !this.noWorkers) {
      const slot = this.workers.length;
      const c = this.ctrl;
      const b = slot * SLOT;
      Atomics.store(c, b, 0);
      Atomics.store(c, b + 1, 0);
      Atomics.store(c, b + 2, 0);
      Atomics.store(c, b + SLEEPS, 0);
      let worker: Worker;
      try {
        worker = new Worker(workerSource(this.spinUs), {
          eval: true,
          workerData: { module: this.module, memory: this.memory, ctrl: this.ctrlSab, slot },
        });
      } catch {
        this.noWorkers = true; // e.g. a sandbox without threads: everything runs on the calling thread
        return;
      }
      worker.on('error', () => Atomics.store(c, b + 2, -1));
      worker.unref();
      this.workers.push({ worker, slot });
    }
  }

  /** How many times the workers went to sleep waiting for a job (not counting their start). */
  workerSleeps(): number {
    let n = 0;
    for (let i = 0; i < this.workers.length; i++) n += Math.max(0, Atomics.load(this.ctrl, i * SLOT + SLEEPS) - 1);
    return n;
  }

  /** Workers (indices) that are ready to take jobs right now, at most n. */
  readyWorkers(n: number): number[] {
    const r: number[] = [];
    for (let i = 0; i < this.workers.length && r.length < n; i++) if (Atomics.load(this.ctrl, i * SLOT + 2) === 1) r.push(i);
    return r;
  }

  async whenReady(n: number, timeoutMs = 20000): Promise<void> {
    this.ensureWorkers(n);
    if (this.noWorkers) throw new Error('chaiq kernels: cannot start worker threads');
    const t0 = Date.now();
    while (this.readyWorkers(n).length < n) {
      for (let i = 0; i < n; i++) if (Atomics.load(this.ctrl, i * SLOT + 2) === -1) throw new Error('chaiq kernels: worker failed to start');
      if (Date.now() - t0 > timeoutMs) throw new Error('chaiq kernels: workers did not start');
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Start a job on worker i; returns its sequence number for join(). */
  dispatch(i: number, cmd: number, args: number[]): number {
    const c = this.ctrl;
    const b = i * SLOT;
    c[b + 3] = cmd;
    for (let k = 0; k < args.length; k++) c[b + ARGS + k] = args[k] | 0;
    const seq = (Atomics.load(c, b) + 1) | 0;
    Atomics.store(c, b, seq);
    Atomics.notify(c, b);
    return seq;
  }

  join(i: number, seq: number): void {
    const c = this.ctrl;
    const b = i * SLOT;
    const d0 = Atomics.load(c, b + 1);
    if (d0 !== seq) spinWhile(c, b + 1, d0, this.spinUs);
    const t0 = Date.now();
    for (;;) {
      const d = Atomics.load(c, b + 1);
      if (d === seq) break;
      if (Atomics.load(c, b + 2) === -1) throw new Error('chaiq kernels: worker failed');
      // a job is at most a few seconds of work: a worker silent this long is gone (its 'exit' event cannot be
      // delivered while this thread blocks)
      if (Date.now() - t0 > 600000) throw new Error('chaiq kernels: worker did not finish its job');
      Atomics.wait(c, b + 1, d, 1000);
    }
    if (Atomics.load(c, b + 2) === -1) throw new Error('chaiq kernels: worker failed');
  }

  /** Run a job on the main thread (same argument layout as dispatch). */
  runLocal(cmd: number, args: number[]): void {
    const a = new Int32Array(args.length);
    for (let k = 0; k < args.length; k++) a[k] = args[k] | 0;
    this.runJobFn(this.ex, cmd, a, 0, this.ctrl);
  }

  /** Run jobs[0] here and jobs[1..] on the given ready workers, then wait for all. */
  parallel(cmd: number, jobs: number[][], workerIdx: number[]): void {
    Atomics.store(this.ctrl, COUNTER, 0);
    const seqs: number[] = [];
    const helpers = Math.min(jobs.length - 1, workerIdx.length); // chunks left over are claimed by whoever runs
    for (let j = 1; j <= helpers; j++) seqs.push(this.dispatch(workerIdx[j - 1], cmd, jobs[j]));
    this.workerJobs += helpers;
    let err: unknown;
    try {
      this.runLocal(cmd, jobs[0]);
    } catch (e) {
      err = e;
    }
    for (let j = 1; j <= helpers; j++) this.join(workerIdx[j - 1], seqs[j - 1]);
    if (err) throw err;
  }

  async shutdown(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    for (const w of ws) {
      Atomics.store(this.ctrl, w.slot * SLOT + 3, JOB_EXIT);
      Atomics.add(this.ctrl, w.slot * SLOT, 1);
      Atomics.notify(this.ctrl, w.slot * SLOT);
    }
    await Promise.all(ws.map((w) => w.worker.terminate()));
  }
}

let runtime: WasmRuntime | null | undefined;

/** The runtime if one was created (no side effects). */
export function peekRuntime(): WasmRuntime | null {
  return runtime ?? null;
}

/** The shared runtime, or null when WebAssembly SIMD + shared memory is not available. */
export function getRuntime(): WasmRuntime | null {
  if (runtime === undefined) {
    try {
      runtime = new WasmRuntime();
    } catch {
      runtime = null;
    }
  }
  return runtime;
}
