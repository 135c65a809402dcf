/**
 * The simulator's fixed chain kept in wasm memory: an integer blob written by a convolution lives in the zone
 * twice, as int32 (what the JS layers read) and as float32 holding the same integers (its "twin", exact below
 * 2^24), with its max |x|. A convolution reads the twin in place on the float kernels, writes its accumulators
 * into the next twin, and requantizes them there (int32 and float32 in one pass): no copies in or out, no
 * conversion, no max |x| pass. Blocks come from a pool and go back to it when the simulator says a blob is dead
 * (releaseResident); otherwise the garbage collector frees them with the arrays.
 */
import { rt } from './config';
import { conv2d } from './conv';
import type { Conv2dParams } from './types';
import type { WasmRuntime } from './wasm-runtime';

interface SimExports {
  sim_i32_to_f32(src: number, dst: number, n: number): number;
  sim_requant_xilinx(acc: number, outQ: number, outF: number, C: number, plane: number, S: number, bq: number, lo: number, hi: number, amax: number): number;
  sim_requant_dynfixed(acc: number, outQ: number, outF: number, C: number, plane: number, bias: number, shift: number, lo: number, hi: number, amax: number): number;
}

/** What the zone holds for an int32 array: its own block (when it lives there), its float twin, max |x|. */
interface Resident {
  qBlock?: Float32Array;
  f?: Float32Array;
  absMax: number;
}

const residents = new WeakMap<Int32Array, Resident>();

/** cap on idle pooled zone memory */
const MAX_POOLED_BYTES = 96 << 20;
/** below this, staging is cheap and a block not worth it */
const MIN_FLOATS = 1024;

const free = new Map<number, Float32Array[]>();
let pooledBytes = 0;

/** How often the resident path ran and why it did not (benches, tests). */
export const residentStats = { convs: 0, staged: 0, noRoom: 0 };

function take(r: WasmRuntime, n: number): Float32Array | null {
  const list = free.get(n);
  if (list && list.length) {
    const a = list.pop()!;
    pooledBytes -= a.byteLength;
    return a;
  }
  return r.zoneView(n);
}

function give(a: Float32Array | undefined): void {
  if (!a || pooledBytes + a.byteLength > MAX_POOLED_BYTES) return;
  let list = free.get(a.length);
  if (!list) free.set(a.length, (list = []));
  list.push(a);
  pooledBytes += a.byteLength;
}

/** The blocks of a dead int32 array go back to the pool (the caller guarantees nothing reads `q` again). */
export function releaseResident(q: Int32Array): void {
  const res = residents.get(q);
  if (!res) return;
  residents.delete(q);
  give(res.f);
  give(res.qBlock);
}

/** `q` is about to change in place: its twin no longer holds the same integers. */
export function invalidateResident(q: Int32Array): void {
  const res = residents.get(q);
  if (!res || !res.f) return;
  give(res.f);
  res.f = undefined;
}

/** Drop the pool (tests, memory pressure). */
export function clearResidentPool(): void {
  free.clear();
  pooledBytes = 0;
}

/** The float twin of q and max |q|, made (and remembered) when q has none; null without room. */
function twinOf(r: WasmRuntime, q: Int32Array): Resident | null {
  const res = residents.get(q);
  if (res?.f) return res;
  if (q.length < MIN_FLOATS) return null;
  const f = take(r, q.length);
  if (!f) {
    residentStats.noRoom++;
    return null;
  }
  const ex = r.ex as unknown as SimExports;
  const qa = r.addrOf(q as unknown as Float32Array);
  let src = qa;
  if (qa < 0) {
    new Int32Array(f.buffer, f.byteOffset, q.length).set(q);
    src = f.byteOffset;
  }
  const m = ex.sim_i32_to_f32(src, f.byteOffset, q.length);
  residentStats.staged++;
  const out: Resident = res ?? { absMax: 0 };
  out.f = f;
  out.absMax = m < 0 ? 2 ** 31 : m;
  if (!res) residents.set(q, out);
  return out;
}

/** How a convolution's accumulators become integers (the two modes' requantization, per output channel). */
export type Requant =
  | { mode: 'Xilinx'; S: ArrayLike<number>; bq: ArrayLike<number> | null }
  | { mode: 'DynamicFixed'; bias: Int32Array | null; shift: number };

/**
 * conv + requantization of one image on exact float32 accumulators, the result resident (see the file comment).
 * `maxRowAbsSum`: the largest Σ|w| of an output channel; the path runs only when max|x|·maxRowAbsSum < 2^24
 * (every partial sum an integer float32 holds exactly). null (nothing done) when it does not apply: no wasm,
 * no room in the zone, the bound, or a multiplier / shift the requantization kernels do not take.
 */
export function convRequantResident(x: Int32Array, wf: Float32Array, p: Conv2dParams, maxRowAbsSum: number, rq: Requant, lo: number, hi: number): Int32Array | null {
  const r = rt();
  if (!r) return null;
  const C = p.outC;
  const plane = p.outH * p.outW;
  const n = C * plane;
  if (n < MIN_FLOATS || x.length < p.inC * p.inH * p.inW) return null;
  if (rq.mode === 'Xilinx') {
    for (let c = 0; c < C; c++) {
      if (!(rq.S[c] >= 0 && rq.S[c] < 2 ** 31 && Number.isInteger(rq.S[c]))) return null;
      if (rq.bq && !(Math.abs(rq.bq[c]) < 2 ** 31)) return null;
    }
  } else if (!(rq.shift >= -30 && rq.shift <= 61)) return null;
  const tw = twinOf(r, x);
  if (!tw || !(tw.absMax * maxRowAbsSum < 2 ** 24)) return null;
  const f = take(r, n);
  const qb = f ? take(r, n) : null;
  if (!f || !qb) {
    give(f ?? undefined);
    residentStats.noRoom++;
    return null;
  }
  conv2d(tw.f!, wf, null, p, f);
  const ex = r.ex as unknown as SimExports;
  r.reset();
  let m: number;
  if (rq.mode === 'Xilinx') {
    const pS = r.putF64(Float64Array.from(rq.S));
    const pB = r.putF64(rq.bq ? Float64Array.from(rq.bq) : new Float64Array(C));
    m = ex.sim_requant_xilinx(f.byteOffset, qb.byteOffset, f.byteOffset, C, plane, pS, pB, lo, hi, tw.absMax * maxRowAbsSum);
  } else {
    const pB = r.alloc(C);
    if (rq.bias) r.I32().set(rq.bias.subarray(0, C), pB >>> 2);
    else r.I32().fill(0, pB >>> 2, (pB >>> 2) + C);
    m = ex.sim_requant_dynfixed(f.byteOffset, qb.byteOffset, f.byteOffset, C, plane, pB, rq.shift, lo, hi, tw.absMax * maxRowAbsSum);
  }
  const q = new Int32Array(qb.buffer, qb.byteOffset, n);
  residents.set(q, { qBlock: qb, f, absMax: m });
  residentStats.convs++;
  return q;
}
