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
}

/** Below this the JS loop is as fast as the copy and the call. */
const MIN_VALUES = 2048;

/** The sums of x against q·scale (rounded to float32), and #(|q| ≥ m); null without wasm (use the JS loop). */
export function fixedErrorSums(x: Float32Array, q: Int32Array, scale: number, m: number): ErrorSums | null {
  const r = rt();
  const n = q.length;
  if (!r || n < MIN_VALUES || x.length !== n) return null;
  const xAddr = r.addrOf(x);
  const bytes = 4 * n + (xAddr < 0 ? 4 * n : 0) + 4096;
  if (!r.canHold(bytes)) return null;
  r.reset();
  const qa = r.alloc(n);
  r.I32().set(q, qa >>> 2);
  const xa = xAddr >= 0 ? xAddr : r.put(x);
  const out = r.alloc(12);
  (r.ex as unknown as MetricExports).err_sums_fixed(xa, qa, n, scale, m, out);
  const o = r.F64().subarray(out >>> 3, (out >>> 3) + 6);
  return { sumRef2: o[0], sumFix2: o[1], sumDot: o[2], sumErr2: o[3], maxAbsErr: o[4], saturated: o[5] };
}
