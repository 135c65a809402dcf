import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { StatsCollector, thresholdFromStatsDetailed } from '../calib/stats';
import type { BlobStats } from '../calib/stats';
import type { ThresholdMethod } from '../calib/threshold';
import { bottomVersion } from './xilinx';
import type { VersionThreshold } from './xilinx';
import { splitThreads } from '../threads';
import { calibrationPasses, observeImage, versionStatsKey } from './calibrate-image';
import type { CollectOptions } from './calibrate-image';
export { observeImage, versionStatsKey } from './calibrate-image';
export type { CollectOptions } from './calibrate-image';
import { setThreads } from '../kernels';



/**
 * Runs the float net over the calibration images (one at a time, memory stays flat) and collects
 * mergeable statistics of every blob version; two passes when the method is KL (§4.3).
 */
export async function collectStats(net: Net, images: Tensor[], opts: CollectOptions): Promise<StatsCollector> {
  if (images.length === 0) throw new ChaiqError('no calibration images');
  const { stats, first, last, total } = calibrationPasses(images.length, opts);
  let done = 0;
  const warned = new Set<string>();
  const parallel = parallelCalibration(images.length, opts.threads);
  if (parallel) return (await import('./calibrate-parallel')).collectStatsOnWorkers(net, images, { ...opts, threads: opts.threads! }, parallel.workers, parallel.kernelThreads);
  if (opts.threads) setThreads(opts.threads);
  for (let pass = first; pass <= last; pass++) {
    if (pass === 2) stats.beginExactPass();
    for (const [k, img] of images.entries()) {
      await observeImage(net, img, k, stats, pass as 1 | 2, opts, warned);
      opts.onProgress?.(++done, total);
    }
  }
  return stats;
}

/** Workers and kernel threads for calibration over `images` images, or undefined: this thread only. */
function parallelCalibration(images: number, threads: number | undefined): { workers: number; kernelThreads: number } | undefined {
  if (!threads || threads <= 1) return undefined;
  const s = splitThreads(threads, images);
  return s.workers > 1 && images >= MIN_IMAGES_FOR_WORKERS ? s : undefined;
}

/** Fewer images stay on this thread (the first image's time decides for more: calibrate-parallel.ts). */
const MIN_IMAGES_FOR_WORKERS = 4;


/** The stats of one version, or a clean error naming what is missing (stats file from another net). */
export function versionStats(net: Net, stats: StatsCollector, li: number, ti: number): BlobStats {
  const key = versionStatsKey(net, li, ti);
  if (!stats.blobs.has(key)) {
    const l = net.layers[li];
    throw new ChaiqError(`the statistics have no entry for blob "${l.tops[ti]}" written by layer "${l.name}" (stats from another net?)`, l.loc ?? {});
  }
  return stats.get(key);
}

export interface ThresholdReport {
  /** calibration method actually used per version key (fallbacks say so) */
  method: Map<string, string>;
}

/**
 * A tensor that is zero on every calibration image would get threshold 0, a division by zero on the board
 * (sf = th / (2^(bw-1) - 1)): it takes the threshold of the tensor its layer reads instead (1 when there is
 * none), and the user is told to calibrate on more images.
 */
export function zeroTensorThreshold(l: LayerNode, ti: number, inputTh: number | undefined, warn: WarnFn): number {
  const fromInput = inputTh !== undefined && inputTh > 0;
  const th = fromInput ? inputTh : 1;
  warn(`blob "${l.tops[ti]}" (layer "${l.name}") is zero on every calibration image: th_layer_out ${th} taken from ${
    fromInput ? 'its input' : 'nothing (1)'} (calibrate on more images)`, l.loc ?? {});
  return th;
}

/** thOf(li, ti) for buildXilinxPlan from collected statistics; fallbacks (e.g. KL → max) are warned once. */
export function thresholdsFromStats(
  net: Net,
  stats: StatsCollector,
  method: ThresholdMethod,
  bw: number,
  warn: WarnFn = () => undefined,
): { thOf: VersionThreshold; report: ThresholdReport } {
  const cache = new Map<string, number>();
  const report: ThresholdReport = { method: new Map() };
  const thOf: VersionThreshold = (li, ti) => {
    const key = versionStatsKey(net, li, ti);
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const r = thresholdFromStatsDetailed(versionStats(net, stats, li, ti), method, bw);
    const l = net.layers[li];
    if (r.fallback) {
      warn(`threshold of blob "${l.tops[ti]}" (layer "${l.name}"): ${r.fallback}`, l.loc ?? {});
      report.method.set(key, `${method}→max`);
    } else report.method.set(key, method);
    let th = r.th;
    if (!(th > 0)) {
      const bv = l.bottoms.length ? bottomVersion(net, li, 0) : undefined;
      const [bl, bt] = bv ? bv.split('/').map(Number) : [];
      th = zeroTensorThreshold(l, ti, bv ? thOf(bl, bt) : undefined, warn);
      report.method.set(key, 'input');
    }
    cache.set(key, th);
    return th;
  };
  return { thOf, report };
}
