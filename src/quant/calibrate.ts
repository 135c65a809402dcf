import type { Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { runNet } from '../exec/executor';
import { countNonFinite, nonFiniteActivationMessage } from '../graph/finite';
import { StatsCollector, thresholdFromStatsDetailed } from '../calib/stats';
import type { BlobStats, StatsSettings } from '../calib/stats';
import type { ThresholdMethod } from '../calib/threshold';
import type { VersionThreshold } from './xilinx';

/**
 * Statistics are kept per blob VERSION (the writer layer), so an in-place ReLU's output is not mixed
 * with the conv output it overwrites: key `top@layer`.
 */
export function versionStatsKey(net: Net, li: number, ti: number): string {
  const l = net.layers[li];
  return `${l.tops[ti]}@${l.name}`;
}

export interface CollectOptions {
  /** KL needs the exact second pass (numpy's sqrt-rule histogram planned from pass 1) */
  method: ThresholdMethod;
  settings?: StatsSettings;
  /** called after each image of each pass: (done, total) */
  onProgress?: (done: number, total: number) => void;
  warn?: WarnFn;
  /**
   * Sharded calibration: `stats` = merged pass-1 statistics to continue with the exact pass only;
   * `pass1Only` = stop after pass 1 (shard files that merge-stats can combine before pass 2).
   */
  stats?: StatsCollector;
  pass1Only?: boolean;
  /** NaN/Inf activations: warn once per blob and leave those values out (default: an error naming layer and blob) */
  allowNonFinite?: boolean;
}

/**
 * Runs the float net over the calibration images (one at a time, memory stays flat) and collects
 * mergeable statistics of every blob version; two passes when the method is KL (§4.3).
 */
export async function collectStats(net: Net, images: Tensor[], opts: CollectOptions): Promise<StatsCollector> {
  if (images.length === 0) throw new ChaiqError('no calibration images');
  const stats = opts.stats ?? new StatsCollector(opts.settings ?? {});
  const first = stats.currentPass === 2 || opts.stats ? 2 : 1;
  if (first === 2 && opts.stats && opts.stats.currentPass === 2) throw new ChaiqError('the statistics already hold the exact pass; nothing to add');
  const last = opts.method === 'kl' && !opts.pass1Only ? 2 : 1;
  if (first > last) throw new ChaiqError(`continuing from pass-1 statistics only makes sense for --th_method kl`);
  const total = (last - first + 1) * images.length;
  let done = 0;
  const warned = new Set<string>();
  for (let pass = first; pass <= last; pass++) {
    if (pass === 2) stats.beginExactPass();
    for (const [k, img] of images.entries()) {
      await runNet(net, img, {
        warn: opts.warn,
        reuseBuffers: true, // the statistics read each tensor during onLayer and keep none
        onLayer: (node, tops) => {
          tops.forEach((t, ti) => {
            if (!t) return;
            const key = versionStatsKey(net, node.index, ti);
            let data = t.data;
            const bad = countNonFinite(data);
            if (bad) {
              const msg = nonFiniteActivationMessage(node, ti, bad, `on calibration image ${k + 1}`);
              if (!opts.allowNonFinite) throw new ChaiqError(`${msg}; --allow_nonfinite leaves such values out`, node.loc ?? {}, 1);
              if (!warned.has(key)) opts.warn?.(`${msg}; left out of the statistics`, node.loc ?? {});
              warned.add(key);
              data = data.filter(Number.isFinite);
            }
            if (pass === 1) stats.observe(key, data);
            else stats.observeExact(key, data);
          });
        },
      });
      opts.onProgress?.(++done, total);
    }
  }
  return stats;
}

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
    if (r.fallback) {
      const l = net.layers[li];
      warn(`threshold of blob "${l.tops[ti]}" (layer "${l.name}"): ${r.fallback}`, l.loc ?? {});
      report.method.set(key, `${method}→max`);
    } else report.method.set(key, method);
    cache.set(key, r.th);
    return r.th;
  };
  return { thOf, report };
}
