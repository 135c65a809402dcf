/**
 * Calibration statistics over many images on worker threads (one net per worker, rebuilt from the layers'
 * parameters and blobs). Counts, extremes and histograms merge exactly in any order; the only
 * order-dependent figures, each blob's Σx and Σx², are re-added image by image in image order, so the
 * statistics (and the thresholds, and a --save_stats file) are those of the one-thread run, byte for byte.
 */
import { runOnWorkers, workerScript } from '../workers';
import type { SourceLoc } from '../errors';
import type { Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { StatsCollector } from '../calib/stats';
import { setThreads } from '../kernels';
import { calibrationPasses, observeImage } from './calibrate-image';
import type { CollectOptions } from './calibrate-image';
import { layerBlobs, shareWeights } from '../shared-weights';
import type { SharedWeights } from '../shared-weights';

/** About what a worker thread takes to load chaiq and rebuild the net before its first image. */
const WORKER_START_MS = Number(process.env.CHAIQ_WORKER_START_MS ?? 1500);

/** What a worker rebuilds the net from: every layer's parameters and blobs, the input shape, the phase. */
export interface NetImage {
  name: string;
  layers: unknown[];
  /** the blobs in one buffer that every worker shares */
  weights: SharedWeights;
  inputShape: number[];
  phase?: 'TEST' | 'TRAIN';
  /** where each layer is in the prototxt, for the messages */
  locs: (SourceLoc | undefined)[];
  file?: string;
}

export function netImage(net: Net): NetImage {
  return {
    name: net.name,
    layers: net.layers.map((l) => l.param),
    weights: shareWeights(layerBlobs(net.layers)),
    inputShape: net.inputs[0].shape,
    phase: net.phase,
    locs: net.layers.map((l) => l.loc),
    file: net.file,
  };
}

export interface CalibWorkerSetup {
  net: NetImage;
  settings: unknown;
  allowNonFinite: boolean;
  kernelThreads: number;
}

/** Per image: blob key → [Σx, Σx²] of that image (pass 1). */
export type ImageSums = Record<string, [number, number]>;



/**
 * One pass over `images` on `workers` threads. Pass 1 returns the merged collector and each image's sums;
 * pass 2 (`pass1` given: the merged pass-1 statistics as JSON) returns the workers' exact-pass collectors.
 */
async function passOnWorkers(setup: CalibWorkerSetup, images: Tensor[], indices: number[], workers: number, pass1: unknown,
  opts: CollectOptions, onDone: () => void): Promise<{ stats: StatsCollector[]; sums: (ImageSums | undefined)[] }> {
  const out: StatsCollector[] = [];
  const sums: (ImageSums | undefined)[] = new Array(images.length);
  await runOnWorkers<{ sums?: ImageSums }, { stats: unknown }>({
    script: workerScript(__dirname, 'quant', 'calib-worker', 'calibration'), workerData: { ...setup, pass1 }, workers, indices, what: 'calibration', warn: opts.warn,
    job: (k) => ({ image: images[k] }),
    onDone: (m) => {
      sums[m.index] = m.sums;
      onDone();
    },
    onResult: (m) => out.push(StatsCollector.fromJSON(m.stats)),
  });
  return { stats: out, sums };
}

/**
 * collectStats on worker threads: the same statistics as the one-thread run. `opts.stats` (continuing from
 * merged pass-1 statistics) and the method's pass count work as there.
 */
export async function collectStatsOnWorkers(net: Net, images: Tensor[], opts: CollectOptions & { threads: number }, workers: number, kernelThreads: number): Promise<StatsCollector> {
  const threads = opts.threads;
  const { stats, first, last, total } = calibrationPasses(images.length, opts);
  let done = 0;
  const onDone = () => opts.onProgress?.(++done, total);
  const setup: CalibWorkerSetup = { net: netImage(net), settings: stats.settings, allowNonFinite: !!opts.allowNonFinite, kernelThreads };
  const warned = new Set<string>();
  const all = images.map((_, k) => k);
  let onWorkers = true;
  if (first === 1) {
    // the first image here: it tells whether the rest is worth the workers' start
    const one = new StatsCollector(stats.settings);
    const t0 = performance.now();
    await observeImage(net, images[0], 0, one, 1, opts, warned);
    onDone();
    const firstSums: ImageSums = {};
    for (const [k, b] of one.blobs) firstSums[k] = [b.sum, b.sumSq];
    stats.merge(one, 'calibration image');
    onWorkers = (performance.now() - t0) * (images.length - 1) > WORKER_START_MS * workers;
    if (!onWorkers) {
      setThreads(threads);
      for (let k = 1; k < images.length; k++) {
        await observeImage(net, images[k], k, stats, 1, opts, warned);
        onDone();
      }
    } else {
      const r = await passOnWorkers(setup, images, all.slice(1), workers, undefined, opts, onDone);
      for (const s of r.stats) stats.merge(s, 'calibration worker');
      // Σx and Σx² as the one-thread run adds them: image by image, in order
      r.sums[0] = firstSums;
      for (const b of stats.blobs.values()) b.sum = b.sumSq = 0;
      for (const sums of r.sums) {
        for (const [key, [s, s2]] of Object.entries(sums ?? {})) {
          const b = stats.blobs.get(key)!;
          b.sum += s;
          b.sumSq += s2;
        }
      }
    }
  }
  if (last === 2) {
    const pass1 = stats.toJSON();
    stats.beginExactPass();
    if (onWorkers) {
      const r = await passOnWorkers(setup, images, all, workers, pass1, opts, onDone);
      for (const s of r.stats) stats.merge(s, 'calibration worker');
    } else {
      for (let k = 0; k < images.length; k++) {
        await observeImage(net, images[k], k, stats, 2, opts, warned);
        onDone();
      }
    }
  }
  return stats;
}
