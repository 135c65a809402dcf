/**
 * Which backend the kernels use (wasm SIMD or plain JS), how many threads, and the worker pool's life cycle.
 */
import { defaultKernelThreads } from '../threads';
import { getRuntime, peekRuntime, type WasmRuntime } from './wasm-runtime';

let threads = defaultKernelThreads();
let wasmWanted = process.env.CHAIQ_NO_WASM !== '1';
/** Below this many multiply-adds a call stays on one thread (waking a worker costs ~10-50 µs). */
export const PAR_MIN_MACS = 1 << 20;
/** the same for depthwise convs (their MACs are ~5x slower than the GEMM's: MobileNet's 14x14 layers gain) */
export const DW_PAR_MIN_MACS = 1 << 17;

/** Threads (main + workers) used by the kernels. Default: src/threads.ts (CHAIQ_THREADS, else os.availableParallelism()). */
export function setThreads(n: number): void {
  threads = Math.min(64, Math.max(1, Math.floor(n)));
}

export function getThreads(): number {
  return threads;
}

/** Force the plain-JS path (false) or allow wasm (true). Initial value: CHAIQ_NO_WASM !== '1'. */
export function setUseWasm(on: boolean): void {
  wasmWanted = on;
}

/** The wasm runtime when the SIMD path is on and available, else null (callers run plain JS). */
export function rt(): WasmRuntime | null {
  return wasmWanted ? getRuntime() : null;
}

/** 'wasm' when the SIMD path is active, else 'js'. */
export function kernelBackend(): 'wasm' | 'js' {
  return rt() ? 'wasm' : 'js';
}

/**
 * Which backend runs, which build of the wasm module ('fma': relaxed-SIMD multiply-add, 'simd128': multiply
 * then add; null on the JS path), how many threads it may use, how many jobs went to worker threads so far and how
 * often a worker went to sleep waiting for one (it polls CHAIQ_SPIN_US first).
 */
export function kernelStats(): { backend: 'wasm' | 'js'; variant: 'fma' | 'simd128' | null; threads: number; workerJobs: number; workerSleeps: number } {
  const r = rt();
  return { backend: r ? 'wasm' : 'js', variant: r ? r.variant : null, threads, workerJobs: r ? r.workerJobs : 0, workerSleeps: r ? r.workerSleeps() : 0 };
}

/** Start the worker pool now and wait until it takes jobs (otherwise it warms up during the first calls). Best effort. */
export async function initKernels(): Promise<void> {
  const r = rt();
  if (!r || threads <= 1) return;
  try {
    await r.whenReady(threads - 1);
  } catch {
    // no threads here: the kernels run on the calling thread only
  }
}

/** Terminate the worker threads (they are unref'd, so a process exits without this; jest prefers it). */
export async function shutdownKernels(): Promise<void> {
  const r = peekRuntime();
  if (r) await r.shutdown();
}

/** Ready workers to help with a call of `macs` multiply-adds (none below PAR_MIN_MACS or with one thread). */
export function workersFor(r: WasmRuntime, macs: number): number[] {
  if (threads <= 1 || macs < PAR_MIN_MACS) return [];
  r.ensureWorkers(threads - 1);
  return r.readyWorkers(threads - 1);
}

/** [chunk, nChunks] cutting n into ~4 chunks per thread, chunk a multiple of align and >= minChunk. */
export function chunks(n: number, t: number, align: number, minChunk: number): [number, number] {
  if (t <= 1) return [n, 1];
  const ch = Math.max(minChunk, Math.ceil(n / (4 * t) / align) * align);
  return [ch, Math.ceil(n / ch)];
}
