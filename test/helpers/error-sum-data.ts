/**
 * A reference and two fixed versions of it for the error-sum tests: ref in ±1.5 with 1 % of values a million
 * times larger, q and q2 its 8-bit quantizations (scale 1/40) with ±2 and ±4.5 of noise, clamped to ±127.
 */
export function errorSumData(n: number, r: () => number): { ref: Float32Array; q: Int32Array; q2: Int32Array } {
  const ref = new Float32Array(n);
  const q = new Int32Array(n);
  const q2 = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    ref[i] = (r() - 0.5) * 3 * (r() < 0.01 ? 1e6 : 1);
    q[i] = Math.max(-127, Math.min(127, Math.round(ref[i] * 40 + (r() - 0.5) * 4)));
    q2[i] = Math.max(-127, Math.min(127, Math.round(ref[i] * 40 + (r() - 0.5) * 9)));
  }
  return { ref, q, q2 };
}
