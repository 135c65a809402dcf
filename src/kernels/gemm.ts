/** Float GEMM in the wasm kernels (packed micro-kernel; a GEMV for few rows), plain JS when wasm is off. */
import { sgemmJs } from './js';
import { chunks, getThreads, rt, workersFor } from './config';
import { fits, gemmChunks } from './conv';
import { cachedOperand } from './weight-cache';
import { JOB_GEMM, JOB_GEMV_T } from './wasm-runtime';

/** C[M,N] = A[M,K]·B[K,N] (+ C if accumulate), row-major; transB: B is stored [N,K]. */
export function sgemm(M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array,
  opts: { transB?: boolean; accumulate?: boolean } = {}): void {
  const transB = !!opts.transB;
  const accumulate = !!opts.accumulate;
  if (A.length < M * K || B.length < K * N || C.length < M * N) throw new Error(`sgemm: operand too small for ${M}x${N}x${K}`);
  const r = rt();
  const threads = getThreads();
  if (!r || M === 0 || N === 0 || !fits(r, 4 * (2 * M * K + K * N + M * N + 2 * (threads + 1) * 140000) + (8 << 20))) {
    sgemmJs(M, N, K, A, 0, B, 0, C, 0, transB, accumulate);
    return;
  }
  if (K === 0) {
    if (!accumulate) C.fill(0, 0, M * N);
    return;
  }
  const gemv = transB && M < 2 * r.MR;
  // few rows (InnerProduct at small batch): B (the weights) is read in place, kept in wasm memory across calls
  let pB = gemv ? cachedOperand(r, B, K * N, `gemvB:${K}`, K * N, (addr) => r.F32().set(B.subarray(0, K * N), addr >>> 2)) : -1;
  if (pB >= 0 && !fits(r, 4 * (2 * M * K + M * N + 2 * (threads + 1) * 140000) + (8 << 20))) {
    r.flushCache();
    pB = -1;
    if (!fits(r, 4 * (2 * M * K + K * N + M * N + 2 * (threads + 1) * 140000) + (8 << 20))) {
      sgemmJs(M, N, K, A, 0, B, 0, C, 0, transB, accumulate);
      return;
    }
  }
  r.reset();
  const aa = r.addrOf(A);
  const pA = aa >= 0 ? aa : r.put(A.subarray(0, M * K));
  // C in place when it is in wasm memory and does not overlap A
  let ca = r.addrOf(C);
  if (ca >= 0 && aa >= 0 && ca < aa + 4 * M * K && aa < ca + 4 * M * N) ca = -1;
  const pCof = (): number => (ca >= 0 ? ca : accumulate ? r.put(C.subarray(0, M * N)) : r.alloc(M * N));
  if (gemv) {
    if (pB < 0) pB = r.put(B.subarray(0, K * N));
    const pC = pCof();
    const idle = workersFor(r, M * N * K);
    const [ch, nc] = chunks(N, idle.length + 1, 4, 16);
    r.parallel(JOB_GEMV_T, Array.from({ length: idle.length + 1 }, () => [M, N, K, pA, pB, pC, accumulate ? 1 : 0, ch, nc]), idle);
    if (ca < 0) r.get(pC, C.subarray(0, M * N));
    return;
  }
  const pAp = r.alloc(Math.ceil(M / r.MR) * r.MR * K);
  r.ex.pack_a(pA, K, M, K, pAp);
  pB = r.put(B.subarray(0, K * N));
  const pC = pCof();
  const idle = workersFor(r, M * N * K);
  const T = idle.length + 1;
  const wsF = r.ex.gemm_ws_floats();
  const [dim, ch, nc] = gemmChunks(M, N, T, r);
  const jobs = Array.from({ length: T }, () => [M, N, K, pAp, pB, transB ? 1 : 0, pC, accumulate ? 1 : 0, dim, ch, nc, r.alloc(wsF)]);
  r.parallel(JOB_GEMM, jobs, idle);
  if (ca < 0) r.get(pC, C.subarray(0, M * N));
}

