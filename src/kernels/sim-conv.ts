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
import { poolInWasm } from './layer-ops';
import type { Conv2dParams } from './types';
import { simGemmAt, simGemmFits, simGemmShape, simWinogradAt, simWinogradFits, simWinogradShape, weightAbsMax } from './sim-winograd';
import { putRequantWords, quantizeTwin, requantTwin, type Requant } from './sim-twin-threads';
import { simDwAt, simDwFits, simDwShape } from './sim-dw';
import type { WasmRuntime } from './wasm-runtime';
import { intAbsMax } from './int-conv';

interface SimExports {
  sim_i32_to_f32(src: number, dst: number, n: number): number;
  sim_f32_to_i32(src: number, dst: number, n: number): number;
  sim_quantize(kind: number, x: number, q: number, f: number, n: number, a: number, b: number, c: number, lo: number, hi: number): number;
  /** max(q, 0) on q and its twin in place (wasm/sim-twin-ops.c) */
  sim_relu_twin(q: number, f: number, n: number): number;
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
const MIN_FLOATS = 16;

const free = new Map<number, Float32Array[]>();
let pooledBytes = 0;

let enabled = true;
/** Turn the resident paths off (false: every caller takes its staged path; tests compare the two) or on. */
export function setResidentChain(on: boolean): void {
  enabled = on;
}

let wanted = true;
/**
 * Whether the caller's run wants the resident paths (the simulator: only without the float reference, whose
 * per-layer runs make arrays the pool never gets back); returns the previous value.
 */
export function setResidentWanted(on: boolean): boolean {
  const prev = wanted;
  wanted = on;
  return prev;
}

/** The runtime when the resident paths are on. */
function residentRt(): WasmRuntime | null {
  return enabled && wanted ? rt() : null;
}

/** How often the resident path ran and why it did not (benches, tests). */
export const residentStats = { convs: 0, staged: 0, noRoom: 0, eltwise: 0 };

function take(r: WasmRuntime, n: number): Float32Array | null {
  const list = free.get(n);
  if (list && list.length) {
    const a = list.pop()!;
    pooledBytes -= a.byteLength;
    return a;
  }
  const v = r.zoneView(n);
  if (v || pooledBytes === 0) return v;
  // the zone is full while the pool holds blocks of other sizes (an earlier net's): they go back, then retry
  returnPool(r);
  return r.zoneView(n);
}

function returnPool(r: WasmRuntime): void {
  for (const list of free.values()) for (const a of list) r.zoneReturn(a);
  free.clear();
  pooledBytes = 0;
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

/**
 * max(q, 0) in place on a resident array and its twin (wasm/sim-twin-ops.c), which stays valid for the next
 * convolution; false when q has no twin (the caller runs the JS loop and drops it).
 */
export function reluResidentInPlace(q: Int32Array): boolean {
  const f = reluTwinOf(q);
  if (!f) return false;
  residents.get(q)!.absMax = (rt()!.ex as unknown as SimExports).sim_relu_twin(q.byteOffset, f.byteOffset, q.length);
  return true;
}

/**
 * The twin an in-place ReLU on q may write with q (reluResidentInPlace, or the error sums' pass: sim-metrics.ts
 * ReluInPlace): undefined when q has none in place in the kernels' memory (the JS loop then).
 */
export function reluTwinOf(q: Int32Array): Float32Array | undefined {
  const r = residentRt();
  const res = residents.get(q);
  if (!r || !res?.f || r.addrOf(q as unknown as Float32Array) < 0 || res.f.length !== q.length) return undefined;
  return res.f;
}

/** q and its twin (reluTwinOf) now hold max(q, 0): its largest value. */
export function reluAppliedResident(q: Int32Array, absMax: number): void {
  const res = residents.get(q);
  if (res) res.absMax = absMax;
}

/** Drop the pool (tests, memory pressure). */
export function clearResidentPool(): void {
  const r = rt();
  if (r) returnPool(r);
  free.clear();
  pooledBytes = 0;
}

/**
 * The float twin of q and max |q|. A resident array (one these functions returned) keeps the twin it is given;
 * any other array gets a temporary one (`temp`: the caller gives it back), since its owner may change it in place.
 * null without room.
 */
function twinOf(r: WasmRuntime, q: Int32Array): { res: Resident; temp: boolean } | null {
  const res = residents.get(q);
  if (res?.f) return { res, temp: false };
  if (q.length < MIN_FLOATS) return null;
  const f = take(r, q.length);
  if (!f) {
    residentStats.noRoom++;
    return null;
  }
  const ex = r.ex as unknown as SimExports;
  const qa = res ? r.addrOf(q as unknown as Float32Array) : -1;
  let src = qa;
  if (qa < 0) {
    new Int32Array(f.buffer, f.byteOffset, q.length).set(q);
    src = f.byteOffset;
  }
  const m = ex.sim_i32_to_f32(src, f.byteOffset, q.length);
  residentStats.staged++;
  const absMax = m < 0 ? 2 ** 31 : m;
  if (!res) return { res: { f, absMax }, temp: true };
  res.f = f;
  res.absMax = absMax;
  return { res, temp: false };
}

function doneWith(t: { res: Resident; temp: boolean }): void {
  if (t.temp) give(t.res.f);
}

export type { Requant };

/**
 * conv + requantization of one image, the result resident (see the file comment). `maxRowAbsSum`: the largest
 * Σ|w| of an output channel. A depthwise conv whose integer weights `w` are given runs the integer depthwise kernel
 * with its requantization fused (sim-dw.ts), a 3x3 stride-1 one the exact integer
 * Winograd (sim-winograd.ts), any other ungrouped one the integer GEMM, when their bounds hold (x's int32 copied
 * into the zone when it does not live there); otherwise the float kernels on exact float32 accumulators, when
 * max|x|·maxRowAbsSum < 2^24 (every partial sum an integer float32 holds exactly). null (nothing done) when neither applies: no wasm, no room in
 * the zone, the bounds, or a multiplier / shift the requantization kernels do not take.
 */
export function convRequantResident(x: Int32Array, wf: Float32Array, p: Conv2dParams, maxRowAbsSum: number, rq: Requant, lo: number, hi: number, w?: Int32Array): Int32Array | null {
  const r = residentRt();
  if (!r) return null;
  const C = p.outC;
  const plane = p.outH * p.outW;
  const n = C * plane;
  if (n < MIN_FLOATS || x.length < p.inC * p.inH * p.inW) return null;
  if (!requantTakes(rq, C)) return null;
  const dw = w && simDwShape(p) ? depthwiseResident(r, [x], p, maxRowAbsSum, rq, lo, hi, w) : null;
  if (dw) return dw[0];
  const t = twinOf(r, x);
  if (!t) return null;
  const tw = t.res;
  const k = w ? intPath(p, tw.absMax, w, maxRowAbsSum) : 0;
  const xi = k ? zoneInt(r, x, tw) : null;
  const f = xi || tw.absMax * maxRowAbsSum < 2 ** 24 ? take(r, n) : null;
  const qb = f ? take(r, n) : null;
  if (!f || !qb) {
    if (f) residentStats.noRoom++;
    give(f ?? undefined);
    give(xi?.tmp);
    doneWith(t);
    return null;
  }
  // integer Winograd or GEMM: the int32 sums go to qb, requantized there in place
  const accI32 = !!xi && (k === 1 ? simWinogradAt(r, xi.addr, w!, p, qb.byteOffset) : simGemmAt(r, xi.addr, w!, p, qb.byteOffset)) >= 0;
  give(xi?.tmp);
  if (!accI32) {
    if (!(tw.absMax * maxRowAbsSum < 2 ** 24)) {
      give(f);
      give(qb);
      doneWith(t);
      return null;
    }
    conv2d(tw.f!, wf, null, p, f);
  }
  doneWith(t);
  return requantResident(r, accI32, { f, qb }, C, plane, rq, lo, hi, tw.absMax * maxRowAbsSum);
}

/** The integer kernel conv p takes for inputs of max |x| = xAbsMax: 1 the Winograd, 2 the GEMM, 0 none (the bounds). */
function intPath(p: Conv2dParams, xAbsMax: number, w: Int32Array, maxRowAbsSum: number): number {
  const wm = weightAbsMax(w);
  if (simWinogradShape(p) && simWinogradFits(xAbsMax, wm, maxRowAbsSum)) return 1;
  return simGemmShape(p) && simGemmFits(xAbsMax, wm, maxRowAbsSum) ? 2 : 0;
}

/**
 * The zone address of x's int32 for the integer kernels: its own block when it lives there, else a copy in a
 * temporary block (`tmp`: the caller gives it back). null without room.
 */
function zoneInt(r: WasmRuntime, x: Int32Array, res: Resident | undefined): { addr: number; tmp?: Float32Array } | null {
  const xa = res?.qBlock ? r.addrOf(x as unknown as Float32Array) : -1;
  if (xa >= 0) return { addr: xa };
  const tmp = take(r, x.length);
  if (!tmp) {
    residentStats.noRoom++;
    return null;
  }
  new Int32Array(tmp.buffer, tmp.byteOffset, x.length).set(x);
  residentStats.staged++;
  return { addr: tmp.byteOffset, tmp };
}

/** Multipliers, biases and shifts the wasm requantization takes. */
function requantTakes(rq: Requant, C: number): boolean {
  if (rq.mode === 'DynamicFixed') return rq.shift >= -30 && rq.shift <= 61;
  for (let c = 0; c < C; c++) {
    if (!(rq.S[c] >= 0 && rq.S[c] < 2 ** 31 && Number.isInteger(rq.S[c]))) return false;
    if (rq.bq && !(Math.abs(rq.bq[c]) < 2 ** 31)) return false;
  }
  return true;
}

/**
 * The accumulators of one image (int32 in pair.qb when accI32, else float32 in pair.f) requantized into pair.qb
 * and its twin pair.f; the result resident. `bound`: max |accumulator| (max|x|·Σ|w_c|).
 */
function requantResident(r: WasmRuntime, accI32: boolean, pair: { f: Float32Array; qb: Float32Array }, C: number, plane: number, rq: Requant, lo: number, hi: number, bound: number): Int32Array {
  const { f, qb } = pair;
  const acc = accI32 ? qb.byteOffset : f.byteOffset;
  r.reset();
  const { pA, pB } = putRequantWords(r, rq, C);
  const shift = rq.mode === 'Xilinx' ? 0 : rq.shift;
  const m = requantTwin(r, { dynfixed: rq.mode !== 'Xilinx', acc, accI32, outQ: qb.byteOffset, outF: f.byteOffset, C, plane, pA, pB, shift, lo, hi, amax: bound });
  const q = new Int32Array(qb.buffer, qb.byteOffset, C * plane);
  residents.set(q, { qBlock: qb, f, absMax: m });
  residentStats.convs++;
  return q;
}

/**
 * convRequantResident of two images with the same weights (a layer's fixed and local runs) in one kernel call,
 * when both take the integer Winograd, or both the GEMM, or both the depthwise kernel (an input not in the zone
 * copied in): each block of packed weights is read for the two images at once, one thread dispatch. The same
 * integers as two calls. null (nothing done) otherwise.
 */
export function convRequantResidentPair(x0: Int32Array, x1: Int32Array, p: Conv2dParams, maxRowAbsSum: number, rq: Requant, lo: number, hi: number, w: Int32Array): [Int32Array, Int32Array] | null {
  const r = residentRt();
  if (!r) return null;
  const C = p.outC;
  const plane = p.outH * p.outW;
  const n = C * plane;
  const inSize = p.inC * p.inH * p.inW;
  if (n < MIN_FLOATS || x0.length < inSize || x1.length < inSize || !requantTakes(rq, C)) return null;
  if (simDwShape(p)) {
    const dw = depthwiseResident(r, [x0, x1], p, maxRowAbsSum, rq, lo, hi, w);
    return dw ? [dw[0], dw[1]] : null;
  }
  if (!simWinogradShape(p) && !simGemmShape(p)) return null;
  const t0 = twinOf(r, x0);
  const t1 = t0 ? twinOf(r, x1) : null;
  const k = t1 ? intPath(p, t0!.res.absMax, w, maxRowAbsSum) : 0;
  const xi0 = k && intPath(p, t1!.res.absMax, w, maxRowAbsSum) === k ? zoneInt(r, x0, t0!.res) : null;
  const xi1 = xi0 ? zoneInt(r, x1, t1!.res) : null;
  const a = xi1 ? takePair(r, n) : null;
  const b = a ? takePair(r, n) : null;
  const done = b ? (k === 1 ? simWinogradAt : simGemmAt)(r, xi0!.addr, w, p, a!.qb.byteOffset, { x: xi1!.addr, out: b.qb.byteOffset }) : -1;
  for (const blk of [xi0?.tmp, xi1?.tmp]) give(blk);
  const m0 = t0?.res.absMax ?? 0;
  const m1 = t1?.res.absMax ?? 0;
  if (t0) doneWith(t0);
  if (t1) doneWith(t1);
  if (done < 0) {
    for (const blk of [a?.f, a?.qb, b?.f, b?.qb]) give(blk);
    return null;
  }
  return [
    requantResident(r, true, a!, C, plane, rq, lo, hi, m0 * maxRowAbsSum),
    requantResident(r, true, b!, C, plane, rq, lo, hi, m1 * maxRowAbsSum),
  ];
}

/**
 * A depthwise conv of one or two images (a layer's fixed and local runs) on the integer kernel with the
 * requantization fused (sim-dw.ts), inputs read in place when they live in the zone (else copied in); the results
 * resident. null (nothing done) when its bounds do not hold or without room: the caller takes the float32-twin path.
 */
function depthwiseResident(r: WasmRuntime, xs: Int32Array[], p: Conv2dParams, maxRowAbsSum: number, rq: Requant, lo: number, hi: number, w: Int32Array): Int32Array[] | null {
  const n = p.outC * p.outH * p.outW;
  const wm = weightAbsMax(w);
  const ams = xs.map(absMaxOf);
  if (!ams.every((m) => simDwFits(m, wm, maxRowAbsSum))) return null;
  const temps: Float32Array[] = [];
  const outs: Array<{ f: Float32Array; qb: Float32Array }> = [];
  const fail = (): null => {
    temps.forEach((b) => give(b));
    for (const o of outs) {
      give(o.f);
      give(o.qb);
    }
    return null;
  };
  const addrs: number[] = [];
  for (const x of xs) {
    const xi = zoneInt(r, x, residents.get(x));
    if (!xi) return fail();
    if (xi.tmp) temps.push(xi.tmp);
    addrs.push(xi.addr);
  }
  for (let k = 0; k < xs.length; k++) {
    const o = takePair(r, n);
    if (!o) return fail();
    outs.push(o);
  }
  const imgs = outs.map((o, k) => ({ x: addrs[k], q: o.qb.byteOffset, f: o.f.byteOffset, amax: ams[k] * maxRowAbsSum }));
  const ms = simDwAt(r, imgs, w, p, rq, lo, hi);
  if (!ms) return fail();
  temps.forEach((b) => give(b));
  residentStats.convs += xs.length;
  return outs.map((o, k) => adopt(o, n, ms[k]));
}

/** max |x|: a resident blob's own while its twin is valid (nothing changed it in place since), else computed. */
function absMaxOf(x: Int32Array): number {
  const res = residents.get(x);
  return res?.f ? res.absMax : intAbsMax(x);
}

/** A new resident pair of n values (int32 block and float twin), or null without room. */
function takePair(r: WasmRuntime, n: number): { f: Float32Array; qb: Float32Array } | null {
  const f = take(r, n);
  const qb = f ? take(r, n) : null;
  if (!f || !qb) {
    give(f ?? undefined);
    residentStats.noRoom++;
    return null;
  }
  return { f, qb };
}

function adopt(pair: { f: Float32Array; qb: Float32Array }, n: number, absMax: number): Int32Array {
  const q = new Int32Array(pair.qb.buffer, pair.qb.byteOffset, n);
  residents.set(q, { qBlock: pair.qb, f: pair.f, absMax });
  return q;
}

/**
 * MAX pooling of integers on the float pooling kernel, reading x's twin in place (exact: the integers are below
 * 2^24 and max commutes with the conversion); the result resident. Every window must overlap the image (the
 * caller checks). null when it does not apply.
 */
export function maxPoolResident(x: Int32Array, C: number, h: number, w: number,
  g: { kh: number; kw: number; ph: number; pw: number; sh: number; sw: number; oh: number; ow: number }): Int32Array | null {
  const r = residentRt();
  const n = C * g.oh * g.ow;
  if (!r || n < MIN_FLOATS || x.length < C * h * w) return null;
  const t = twinOf(r, x);
  if (!t) return null;
  const pair = t.res.absMax <= 2 ** 24 ? takePair(r, n) : null;
  const ok = !!pair && poolInWasm(true, t.res.f!, pair.f, C, h, w, g);
  doneWith(t);
  if (!pair || !ok) {
    give(pair?.f);
    give(pair?.qb);
    return null;
  }
  const m = (r.ex as unknown as SimExports).sim_f32_to_i32(pair.f.byteOffset, pair.qb.byteOffset, n);
  return adopt(pair, n, m);
}

/** Concat of integer blobs (and of their twins), resident. null when it does not apply. */
export function concatResident(inputs: Int32Array[]): Int32Array | null {
  const r = residentRt();
  let n = 0;
  for (const a of inputs) n += a.length;
  if (!r || n < MIN_FLOATS) return null;
  const tws: Array<{ res: Resident; temp: boolean }> = [];
  const fail = (): null => {
    tws.forEach(doneWith);
    return null;
  };
  for (const a of inputs) {
    const t = a.length >= MIN_FLOATS ? twinOf(r, a) : null;
    if (!t) return fail();
    tws.push(t);
    if (!(t.res.absMax <= 2 ** 24)) return fail();
  }
  const pair = takePair(r, n);
  if (!pair) return fail();
  const q = new Int32Array(pair.qb.buffer, pair.qb.byteOffset, n);
  let off = 0;
  let m = 0;
  inputs.forEach((a, k) => {
    q.set(a, off);
    pair.f.set(tws[k].res.f!.subarray(0, a.length), off);
    off += a.length;
    m = Math.max(m, tws[k].res.absMax);
  });
  tws.forEach(doneWith);
  residents.set(q, { qBlock: pair.qb, f: pair.f, absMax: m });
  return q;
}

/** How a float value is quantized for a HW layer (chaidnn/arith.ts quantizeDynamicFixed / quantizeXilinx / quantizeXilinxPack). */
export type QuantizeSpec =
  | { kind: 'DynamicFixed'; minv: number; maxv: number; p: number; lo: number; hi: number }
  | { kind: 'XilinxInput'; th: number; sf: number; m: number }
  | { kind: 'XilinxPack'; th: number; inv: number; m: number };

/** Quantizes x in wasm into a resident int32 blob (with its twin); null when it does not apply. */
export function quantizeResident(x: Float32Array, spec: QuantizeSpec): Int32Array | null {
  const r = residentRt();
  const n = x.length;
  if (!r || n < MIN_FLOATS) return null;
  const pair = takePair(r, n);
  if (!pair) return null;
  let xa = r.addrOf(x);
  if (xa < 0) {
    r.reset();
    xa = r.put(x);
  }
  const [kind, a, b, c, lo, hi] = spec.kind === 'DynamicFixed' ? [0, spec.minv, spec.maxv, spec.p, spec.lo, spec.hi]
    : spec.kind === 'XilinxInput' ? [1, spec.th, spec.sf, 0, -spec.m, spec.m] : [2, spec.th, spec.inv, 0, -spec.m, spec.m];
  return adopt(pair, n, quantizeTwin(r, kind, xa, pair.qb.byteOffset, pair.f.byteOffset, n, a, b, c, lo, hi));
}

interface EltwiseExports {
  sim_eltwise_add(xs: number, k: number, q: number, f: number, n: number, lo: number, hi: number): number;
  sim_any_nan(x: number, n: number): number;
}

/**
 * Eltwise SUM of integer blobs, clamped to [lo, hi] (lo = 0 for the fused ReLU), in wasm (wasm/sim-eltwise.c),
 * reading resident inputs in place (others are copied in); the result resident with its twin, so an in-place
 * ReLU after it keeps the twin and the next conv reads it in place. The integers of the JS loop (its double sums
 * are exact, the int32 ones too while Σ max|x| < 2^31). null when it does not apply.
 */
export function eltwiseAddResident(inputs: Int32Array[], lo: number, hi: number): Int32Array | null {
  const r = residentRt();
  const n = inputs[0].length;
  if (!r || n < MIN_FLOATS || inputs.length < 2 || inputs.some((a) => a.length !== n)) return null;
  const temps: Float32Array[] = [];
  const done = (): void => temps.forEach((t) => give(t));
  const addrs: number[] = [];
  let bound = 0;
  for (const a of inputs) {
    const res = residents.get(a);
    const xi = zoneInt(r, a, res);
    if (!xi) {
      done();
      return null;
    }
    if (xi.tmp) temps.push(xi.tmp);
    addrs.push(xi.addr);
    bound += absMaxOf(a);
  }
  const pair = bound < 2 ** 31 ? takePair(r, n) : null;
  if (!pair) {
    done();
    return null;
  }
  r.reset();
  const pa = r.alloc(addrs.length);
  r.I32().set(addrs, pa >>> 2);
  const m = (r.ex as unknown as EltwiseExports).sim_eltwise_add(pa, addrs.length, pair.qb.byteOffset, pair.f.byteOffset, n, lo, hi);
  done();
  residentStats.eltwise++;
  return adopt(pair, n, m < 0 ? 2 ** 31 : m);
}

/** Whether x holds a NaN (in wasm when x lives there). */
export function hasNaN(x: Float32Array): boolean {
  const r = rt();
  const xa = r ? r.addrOf(x) : -1;
  if (r && xa >= 0) return (r.ex as unknown as EltwiseExports).sim_any_nan(xa, x.length) !== 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== x[i]) return true;
  return false;
}
