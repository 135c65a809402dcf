/**
 * `chaiq simulate` over many images: the thread split (--threads / CHAIQ_THREADS), image-level workers, the
 * progress bar, and the identity a results file carries (--save_results) so merge-results can check shards.
 */
import type { WarnFn } from '../errors';
import { setThreads } from '../kernels';
import { resolveThreads, splitThreads } from '../threads';
import { simulateImage, simulateOnWorkers } from '../sim/parallel';
import type { ImageRunner, SimSample, WorkerSetup } from '../sim/parallel';
import { layerBlobs, shareWeights } from '../shared-weights';
import { fileSha256, inputListHash, mergeAccumulators, newSimAccumulators } from '../sim/results';
import type { RunIdentity, SimAccumulators } from '../sim/results';
import { makeProgress } from './progress';
import { workerScript } from '../workers';

/** About what a worker thread takes to load chaiq and the net before its first image. */
const WORKER_START_MS = Number(process.env.CHAIQ_WORKER_START_MS ?? 1500);

/** Simulates `samples` on this thread or on worker threads, as the thread count and image count allow. */
export async function runImages(args: Record<string, any>, runner: ImageRunner, samples: SimSample[], opts: { sequential: boolean; warn: WarnFn }): Promise<SimAccumulators> {
  const threads = resolveThreads(args.threads);
  const split = opts.sequential ? { workers: 1, kernelThreads: threads } : splitThreads(threads, samples.length);
  const bar = makeProgress(samples.length, 'simulating');
  let done = 0;
  // a warning about an image is said once, whichever thread met it
  const said = new Set<string>();
  const once: WarnFn = (message, loc) => {
    const key = `${message}\u0000${JSON.stringify(loc ?? {})}`;
    if (!said.has(key)) opts.warn(message, loc);
    said.add(key);
  };
  const saved = runner.prog.warn;
  runner.prog.warn = once;
  runner = { ...runner, warn: once };
  const acc = newSimAccumulators();
  try {
    setThreads(split.kernelThreads);
    let k = 0;
    let firstMs = 0;
    for (; k < samples.length; k++) {
      // the first image (on a worker's share of the threads) tells whether the rest is worth the workers' start
      // (each loads the net again); if not, the rest runs here on all the threads
      if (k === 1 && split.workers > 1) {
        if (firstMs * (samples.length - 1) > WORKER_START_MS * split.workers) break;
        setThreads(threads);
      }
      const t0 = performance.now();
      await simulateImage(runner, samples[k], acc);
      if (k === 0) firstMs = performance.now() - t0;
      bar.tick(++done);
    }
    if (k < samples.length) {
      setThreads(threads);
      const workerArgs = { ...workerSafeArgs(args), threads: split.kernelThreads };
      const rest = Array.from({ length: samples.length - k }, (_, i) => k + i);
      mergeAccumulators(acc, await simulateOnWorkers(workerScript(__dirname, 'cli', 'sim-worker', 'simulation'), simWorkerSetup(workerArgs, runner, split.kernelThreads), rest, split.workers, once, () => bar.tick(++done)));
    }
    return acc;
  } finally {
    runner.prog.warn = saved;
    bar.stop();
  }
}

/** What each simulation worker starts from: the arguments, its kernel threads, and the net's blobs shared once. */
export function simWorkerSetup(args: Record<string, unknown>, runner: Pick<ImageRunner, 'net'>, kernelThreads: number): WorkerSetup {
  return { args, kernelThreads, weights: shareWeights(layerBlobs(runner.net.layers)) };
}

/** The parsed arguments without what cannot cross to a worker (functions) or must not run there (outputs). */
function workerSafeArgs(args: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (typeof v === 'function' || k === '$0' || k === '_') continue;
    if (['output_dir', 'outputDir', 'report', 'save_results', 'saveResults'].includes(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Flags that name files (hashed or listed instead) or only say where output goes: not part of a run's identity. */
const NOT_IDENTITY = new Set([
  '_', '$0', 'deploy_model', 'weights', 'calibration_directory', 'input', 'mnist', 'mnist_labels', 'labels', 'mean_file',
  'format', 'output_dir', 'report', 'save_results', 'shard', 'threads',
]);

/** What a results file must share with the others it is merged with. */
export function runIdentity(
  args: Record<string, any>,
  setup: { allSamples: SimSample[]; outBlob: string; metrics: RunIdentity['report']['metrics'] },
  report: { mode: string; psum18: boolean; top: number },
): RunIdentity {
  const options: Record<string, unknown> = {};
  for (const k of Object.keys(args).sort()) {
    // yargs also gives each flag in camelCase and kebab-case
    if (NOT_IDENTITY.has(k) || /[A-Z-]/.test(k) || args[k] === undefined) continue;
    options[k] = args[k];
  }
  if (args.mean_file) options.mean_file_sha256 = fileSha256(args.mean_file);
  return {
    deploy_sha256: fileSha256(args.deploy_model),
    weights_sha256: fileSha256(args.weights),
    options,
    inputs: inputListHash(setup.allSamples),
    report: { mode: report.mode, psum18: report.psum18, output_blob: setup.outBlob, top: report.top, metrics: setup.metrics },
  };
}

