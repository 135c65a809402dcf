/**
 * The simulator's per-layer error sums on the wasm loop (wasm/sim-metrics.c): the float reference against
 * dequantized fixed integers, added in src/sim/metrics.ts's order (blocks of ERROR_SUM_BLOCK, then the block
 * sums; same bits as its JS loop), the blocks split between the threads. The reference is read in place when it
 * lives in the kernels' memory (runNet's reused buffers).
 */
import { chunks, getThreads, rt } from './config';
import { JOB_ERR_SUMS, type WasmRuntime } from './wasm-runtime';

export interface ErrorSums {
  sumRef2: number;
  sumFix2: number;
  sumDot: number;
  sumErr2: number;
  /** NaN when some error is NaN */
  maxAbsErr: number;
  saturated: number;
}

interface MetricExports {
  /** returns how many blocks took the double route */
  err_sums_part(p: number, b0: number, b1: number): number;
  err_sums_total(p: number, out: number): void;
}

/** Below this the JS loop is as fast as the copy and the call. */
const MIN_VALUES = 2048;
/** wasm/sim-metrics.c's ERR_BLOCK, src/sim/metrics.ts's ERROR_SUM_BLOCK */
const BLOCK = 4096;
/**
 * From how many values (error sums: values × operands) the error sums and the twin passes (sim-twin-threads.ts) are
 * split between the threads: about 150-300 µs of work on one thread (2 ns a value and operand, 4 ns a quantized value,
 * 1.3 ns a requantized one), 5-10 times the hand-off to a worker (30-45 µs on the loaded 2-core machine), as the convs'
 * PAR_MIN_MACS. Tests and benches change them.
 */
export const simThreadMinValues = { errSums: 1 << 17, quantize: 1 << 16, requant: 1 << 17 };

/** Calls of the sums and of the twin passes (sim-twin-threads.ts) handed partly to workers (tests, benches). */
export const simThreadStats = { errSums: 0, quantize: 0, requant: 0 };

/**
 * Blocks of the error sums computed on one thread, and how many of them on wasm/sim-metrics.c's double route (a
 * scale that is not a float32, a rail m < 1, some |q| > 2^24) instead of the float32 one (tests).
 */
export const errSumRoutes = { blocks: 0, double: 0 };

/** Ready workers for a pass over n values that pays from `minValues`: none with one thread. */
export function workersForValues(r: WasmRuntime, n: number, minValues: number): number[] {
  const t = getThreads();
  if (t <= 1 || n < minValues) return [];
  r.ensureWorkers(t - 1);
  return r.readyWorkers(t - 1);
}

/** One fixed version of the reference: its integers, their scale, the rail |q| ≥ m. */
export interface FixedOperand {
  q: Int32Array;
  scale: number;
  m: number;
}

/**
 * An in-place ReLU applied by the pass that takes its row (fixedErrorSumsOf with `relu`): max(q, 0) into the
 * first operand's integers and into `twin`, their float32 twin (wasm/sim-twin-ops.c sim_relu_twin's values), once
 * every operand has read them; `applied` and the largest max(q, 0) are set when it ran (both arrays in place in
 * the kernels' memory).
 */
export interface ReluInPlace {
  twin: Float32Array;
  applied?: boolean;
  absMax?: number;
}

function sumsAt(o: Float64Array, k: number): ErrorSums {
  return { sumRef2: o[k], sumFix2: o[k + 1], sumDot: o[k + 2], sumErr2: o[k + 3], maxAbsErr: o[k + 4], saturated: o[k + 5] };
}

/**
 * The sums of x against each operand's q·scale (rounded to float32), and #(|q| ≥ m), in one pass over x (one
 * or two operands); null without wasm (use the JS loop). With `relu`, one more set after them: max(q, 0) of the
 * first operand against max(x, 0) as the float ReLU writes it (x > 0 ? x : +0), the sums of an in-place ReLU
 * after the layer. Arrays in the kernels' memory (runNet's reused buffers, the resident chain's blobs) are read in
 * place; the others are copied in.
 */
export function fixedErrorSumsOf(x: Float32Array, ops: FixedOperand[], relu = false, inPlace?: ReluInPlace): ErrorSums[] | null {
  const r = rt();
  const n = x.length;
  if (!r || n < MIN_VALUES || ops.length < 1 || ops.length > 2 || ops.some((o) => o.q.length !== n)) return null;
  const xAddr = r.addrOf(x);
  const qAddrs = ops.map((o) => r.addrOf(o.q as unknown as Float32Array));
  const copied = (xAddr < 0 ? 1 : 0) + qAddrs.filter((a) => a < 0).length;
  const nb = Math.ceil(n / BLOCK);
  const nq = ops.length + (relu ? 1 : 0);
  if (!r.canHold(4 * n * copied + 4096 + 48 * nb * nq)) return null;
  r.reset();
  const qa = ops.map((o, k) => {
    if (qAddrs[k] >= 0) return qAddrs[k];
    const a = r.alloc(n);
    r.I32().set(o.q, a >>> 2);
    return a;
  });
  const xa = xAddr >= 0 ? xAddr : r.put(x);
  const out = r.alloc(12 * nq);
  const blk = r.alloc(12 * nb * nq);
  // the ReLU applied in the pass: q and its twin read in place (a copy's writes would be lost)
  const twin = relu && inPlace && qAddrs[0] >= 0 && inPlace.twin.length === n ? r.addrOf(inPlace.twin) : -1;
  const top = twin >= 0 ? r.alloc(nb) : 0;
  // ErrP (sim-metrics.c): x, n, q, q2, m, m2, blk, relu, scale, scale2, twin, top
  const p = r.alloc(14);
  const two = ops.length === 2;
  const I = r.I32();
  I.set([xa, n, qa[0], two ? qa[1] : 0, ops[0].m, two ? ops[1].m : 0, blk, relu ? 1 : 0], p >>> 2);
  I.set([Math.max(twin, 0), top], (p >>> 2) + 12);
  const F = r.F64();
  F[(p >>> 3) + 4] = ops[0].scale;
  F[(p >>> 3) + 5] = two ? ops[1].scale : 0;
  const ex = r.ex as unknown as MetricExports;
  const idle = workersForValues(r, n * nq, simThreadMinValues.errSums);
  if (idle.length) {
    const T = idle.length + 1;
    const [ch, nc] = chunks(nb, T, 4, 4);
    r.parallel(JOB_ERR_SUMS, Array.from({ length: T }, () => [p, nb, ch, nc]), idle);
    simThreadStats.errSums++;
  } else {
    errSumRoutes.double += ex.err_sums_part(p, 0, nb);
    errSumRoutes.blocks += nb;
  }
  ex.err_sums_total(p, out);
  if (inPlace && twin >= 0) {
    const t = r.I32().subarray(top >>> 2, (top >>> 2) + nb);
    let m = 0;
    for (let b = 0; b < nb; b++) m = Math.max(m, t[b]);
    inPlace.applied = true;
    inPlace.absMax = m;
  }
  const o = r.F64().subarray(out >>> 3, (out >>> 3) + 6 * nq);
  return Array.from({ length: nq }, (_, k) => sumsAt(o, 6 * k));
}

/** The sums of x against q·scale (rounded to float32), and #(|q| ≥ m); null without wasm (use the JS loop). */
export function fixedErrorSums(x: Float32Array, q: Int32Array, scale: number, m: number): ErrorSums | null {
  return fixedErrorSumsOf(x, [{ q, scale, m }])?.[0] ?? null;
}
