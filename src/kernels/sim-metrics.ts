/**
 * The simulator's per-layer error sums on the wasm loop (wasm/sim-metrics.c): the float reference against
 * dequantized fixed integers, each sum added in index order as src/sim/metrics.ts's JS loop adds it (same
 * bits). The reference is read in place when it lives in the kernels' memory (runNet's reused buffers).
 */
import { rt } from './config';

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
  err_sums_fixed(x: number, q: number, n: number, scale: number, m: number, out: number): void;
  err_sums_fixed2(x: number, n: number, q: number, scale: number, m: number, q2: number, scale2: number, m2: number, out: number): void;
}

/** Below this the JS loop is as fast as the copy and the call. */
const MIN_VALUES = 2048;

/** One fixed version of the reference: its integers, their scale, the rail |q| ≥ m. */
export interface FixedOperand {
  q: Int32Array;
  scale: number;
  m: number;
}

function sumsAt(o: Float64Array, k: number): ErrorSums {
  return { sumRef2: o[k], sumFix2: o[k + 1], sumDot: o[k + 2], sumErr2: o[k + 3], maxAbsErr: o[k + 4], saturated: o[k + 5] };
}

/**
 * The sums of x against each operand's q·scale (rounded to float32), and #(|q| ≥ m), in one pass over x (one
 * or two operands); null without wasm (use the JS loop). Arrays in the kernels' memory (runNet's reused buffers,
 * the resident chain's blobs) are read in place; the others are copied in.
 */
export function fixedErrorSumsOf(x: Float32Array, ops: FixedOperand[]): ErrorSums[] | null {
  const r = rt();
  const n = x.length;
  if (!r || n < MIN_VALUES || ops.length < 1 || ops.length > 2 || ops.some((o) => o.q.length !== n)) return null;
  const xAddr = r.addrOf(x);
  const qAddrs = ops.map((o) => r.addrOf(o.q as unknown as Float32Array));
  const copied = (xAddr < 0 ? 1 : 0) + qAddrs.filter((a) => a < 0).length;
  if (!r.canHold(4 * n * copied + 4096)) return null;
  r.reset();
  const qa = ops.map((o, k) => {
    if (qAddrs[k] >= 0) return qAddrs[k];
    const a = r.alloc(n);
    r.I32().set(o.q, a >>> 2);
    return a;
  });
  const xa = xAddr >= 0 ? xAddr : r.put(x);
  const out = r.alloc(24);
  const ex = r.ex as unknown as MetricExports;
  if (ops.length === 1) ex.err_sums_fixed(xa, qa[0], n, ops[0].scale, ops[0].m, out);
  else ex.err_sums_fixed2(xa, n, qa[0], ops[0].scale, ops[0].m, qa[1], ops[1].scale, ops[1].m, out);
  const o = r.F64().subarray(out >>> 3, (out >>> 3) + 12);
  return ops.map((_, k) => sumsAt(o, 6 * k));
}

/** The sums of x against q·scale (rounded to float32), and #(|q| ≥ m); null without wasm (use the JS loop). */
export function fixedErrorSums(x: Float32Array, q: Int32Array, scale: number, m: number): ErrorSums | null {
  return fixedErrorSumsOf(x, [{ q, scale, m }])?.[0] ?? null;
}
