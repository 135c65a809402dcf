/** One calibration image through the float net, each blob version's values into the statistics (shared by collectStats and its workers). */
import type { Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { runNet } from '../exec/executor';
import { countNonFinite, nonFiniteActivationMessage } from '../graph/finite';
import { StatsCollector } from '../calib/stats';
import type { StatsSettings } from '../calib/stats';
import type { ThresholdMethod } from '../calib/threshold';

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
  /** threads for the images (--threads); many images run on worker threads, with the same statistics */
  threads?: number;
}

/** One image of one pass: every blob version's values into `stats` (NaN/Inf: an error, or left out and warned once). */
export async function observeImage(net: Net, img: Tensor, k: number, stats: StatsCollector, pass: 1 | 2, opts: CollectOptions, warned: Set<string>): Promise<void> {
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
}

/**
 * The statistics to fill and the passes to run over `images` images: KL takes two (§4.3); continuing from merged
 * pass-1 statistics runs the exact pass only.
 */
export function calibrationPasses(images: number, opts: CollectOptions): { stats: StatsCollector; first: 1 | 2; last: 1 | 2; total: number } {
  const stats = opts.stats ?? new StatsCollector(opts.settings ?? {});
  const first = stats.currentPass === 2 || opts.stats ? 2 : 1;
  if (first === 2 && opts.stats && opts.stats.currentPass === 2) throw new ChaiqError('the statistics already hold the exact pass; nothing to add');
  const last = opts.method === 'kl' && !opts.pass1Only ? 2 : 1;
  if (first > last) throw new ChaiqError(`continuing from pass-1 statistics only makes sense for --th_method kl`);
  return { stats, first, last, total: (last - first + 1) * images };
}
