/**
 * How many threads chaiq uses: `--threads N` > CHAIQ_THREADS > os.availableParallelism(). One resolver for the
 * kernels' worker pool and for the image-level workers of calibration and simulation.
 */
import * as os from 'os';
import { ChaiqError } from './errors';

export const MAX_THREADS = 64;

function parseCount(v: string | number, what: string): number {
  const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new ChaiqError(`${what} must be a positive integer, got '${v}'`, {}, 2);
  return Math.min(MAX_THREADS, n);
}

/** The machine's parallelism (os.availableParallelism where Node has it). */
export function machineThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/** The thread count: the flag, else CHAIQ_THREADS, else the machine's. A bad value is a usage error. */
export function resolveThreads(flag?: number | string, env: NodeJS.ProcessEnv = process.env): number {
  if (flag !== undefined) return parseCount(flag, '--threads');
  const e = env.CHAIQ_THREADS;
  if (e !== undefined && e !== '') return parseCount(e, 'CHAIQ_THREADS');
  return Math.min(MAX_THREADS, machineThreads());
}

/** The kernels' default: CHAIQ_THREADS when it is valid, else the machine's (never throws at module load). */
export function defaultKernelThreads(): number {
  try {
    return resolveThreads();
  } catch {
    return Math.min(MAX_THREADS, machineThreads());
  }
}

/**
 * Image-level workers and kernel threads for `threads` threads over `images` inputs: one worker per thread
 * while there are at least two images per worker (images never share state, so they scale best), each running
 * its kernels on threads/workers threads; fewer images stay on this thread with all threads in the kernels.
 * workers × kernelThreads ≤ threads: the cores are never oversubscribed.
 */
export function splitThreads(threads: number, images: number): { workers: number; kernelThreads: number } {
  const workers = Math.max(1, Math.min(threads, Math.floor(images / 2)));
  if (workers <= 1) return { workers: 1, kernelThreads: threads };
  return { workers, kernelThreads: Math.max(1, Math.floor(threads / workers)) };
}
