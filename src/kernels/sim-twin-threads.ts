/**
 * The resident chain's passes over a whole blob (sim-conv.ts: the quantization of float values into a resident
 * blob, the requantization of a conv's accumulators) on the threads when the blob is large enough for the hand-off
 * to pay: chunks of values or of output channels, each value computed by the same code as on one thread, so the
 * same integers; max |q| is the largest of the chunks'.
 */
import { chunks } from './config';
import { simThreadMinValues, simThreadStats, workersForValues } from './sim-metrics';
import { JOB_SIM_QUANT, JOB_SIM_REQUANT, type WasmRuntime } from './wasm-runtime';

interface TwinExports {
  sim_quantize4(kind: number, x: number, q: number, f: number, n: number, a: number, b: number, c: number, lo: number, hi: number): number;
  sim_requant_xilinx(acc: number, accI32: number, outQ: number, outF: number, C: number, plane: number, S: number, bq: number, lo: number, hi: number, amax: number): number;
  sim_requant_dynfixed(acc: number, accI32: number, outQ: number, outF: number, C: number, plane: number, bias: number, shift: number, lo: number, hi: number, amax: number): number;
}

/** T int32 words (zeroed: each thread's max |q|) and `doubles` doubles in the arena for a job's arguments. */
function jobWords(r: WasmRuntime, T: number, doubles: number[]): { maxAddr: number; dAddr: number } {
  const maxAddr = r.alloc(T);
  const dAddr = r.alloc(2 * doubles.length);
  r.I32().fill(0, maxAddr >>> 2, (maxAddr >>> 2) + T);
  r.F64().set(doubles, dAddr >>> 3);
  return { maxAddr, dAddr };
}

function largest(r: WasmRuntime, maxAddr: number, T: number): number {
  let m = 0;
  for (const v of r.I32().subarray(maxAddr >>> 2, (maxAddr >>> 2) + T)) m = Math.max(m, v);
  return m;
}

/** sim_quantize4 (wasm/sim-twin-ops.c) of n values at x into q and its twin f; returns max |q|. */
export function quantizeTwin(r: WasmRuntime, kind: number, x: number, q: number, f: number, n: number, a: number, b: number, c: number, lo: number, hi: number): number {
  const ex = r.ex as unknown as TwinExports;
  const idle = workersForValues(r, n, simThreadMinValues.quantize);
  if (!idle.length) return ex.sim_quantize4(kind, x, q, f, n, a, b, c, lo, hi);
  const T = idle.length + 1;
  const [ch, nc] = chunks(n, T, 4, 4096);
  const { maxAddr, dAddr } = jobWords(r, T, [a, b, c]);
  r.parallel(JOB_SIM_QUANT, Array.from({ length: T }, (_, k) => [kind, x, q, f, n, dAddr, lo, hi, ch, nc, maxAddr + 4 * k]), idle);
  simThreadStats.quantize++;
  return largest(r, maxAddr, T);
}

/** How a convolution's accumulators become integers (the two modes' requantization, per output channel). */
export type Requant =
  | { mode: 'Xilinx'; S: ArrayLike<number>; bq: ArrayLike<number> | null }
  | { mode: 'DynamicFixed'; bias: Int32Array | null; shift: number };

/**
 * A requantization's per-channel words for C channels in the arena (after r.reset()): Xilinx S at pA and bq at pB
 * (doubles; no bq: zeros), DynamicFixed the biases at pA (int32; none: zeros), pB 0.
 */
export function putRequantWords(r: WasmRuntime, rq: Requant, C: number): { pA: number; pB: number } {
  if (rq.mode === 'Xilinx') {
    const pA = r.putF64(Float64Array.from(rq.S).subarray(0, C));
    return { pA, pB: r.putF64(rq.bq ? Float64Array.from(rq.bq).subarray(0, C) : new Float64Array(C)) };
  }
  const pA = r.alloc(C);
  if (rq.bias) r.I32().set(rq.bias.subarray(0, C), pA >>> 2);
  else r.I32().fill(0, pA >>> 2, (pA >>> 2) + C);
  return { pA, pB: 0 };
}

/** What a requantization takes (the multipliers, biases or shift are already in wasm memory at pA / pB). */
export interface RequantCall {
  dynfixed: boolean;
  acc: number;
  accI32: boolean;
  outQ: number;
  outF: number;
  C: number;
  plane: number;
  /** Xilinx: S (doubles); DynamicFixed: bias (int32) */
  pA: number;
  /** Xilinx: bq (doubles) */
  pB: number;
  shift: number;
  lo: number;
  hi: number;
  amax: number;
}

/** sim_requant_xilinx / sim_requant_dynfixed (wasm/sim.c), chunks of output channels; returns max |y|. */
export function requantTwin(r: WasmRuntime, c: RequantCall): number {
  const ex = r.ex as unknown as TwinExports;
  const n = c.C * c.plane;
  const idle = c.C > 1 ? workersForValues(r, n, simThreadMinValues.requant) : [];
  if (!idle.length) {
    return c.dynfixed
      ? ex.sim_requant_dynfixed(c.acc, c.accI32 ? 1 : 0, c.outQ, c.outF, c.C, c.plane, c.pA, c.shift, c.lo, c.hi, c.amax)
      : ex.sim_requant_xilinx(c.acc, c.accI32 ? 1 : 0, c.outQ, c.outF, c.C, c.plane, c.pA, c.pB, c.lo, c.hi, c.amax);
  }
  const T = idle.length + 1;
  const [ch, nc] = chunks(c.C, T, 1, Math.max(1, Math.ceil(4096 / c.plane)));
  const { maxAddr, dAddr } = jobWords(r, T, [c.amax]);
  const args = [c.dynfixed ? 1 : 0, c.acc, c.accI32 ? 1 : 0, c.outQ, c.outF, c.C, c.plane, c.pA, c.pB, c.shift, c.lo, c.hi, dAddr, ch, nc];
  r.parallel(JOB_SIM_REQUANT, Array.from({ length: T }, (_, k) => [...args, maxAddr + 4 * k]), idle);
  simThreadStats.requant++;
  return largest(r, maxAddr, T);
}
